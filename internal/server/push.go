package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/hushmsg/hush/push"
)

// ProvidersConfig holds the push services' credentials; nil turns one off.
type ProvidersConfig struct {
	APNs *push.APNsConfig
	FCM  *push.FCMConfig
	// WebPush (and UnifiedPush) is on by default: with no keys set, a
	// VAPID key pair is made once and kept in the data directory.
	WebPush *push.WebPushConfig
	WNS     *push.WNSConfig
}

// VAPIDFile keeps the embedded profile's VAPID key pair.
const VAPIDFile = "vapid.json"

// openProviders makes the push providers the configuration enables, and
// returns the Web Push application server key ("" without Web Push).
func openProviders(ctx context.Context, cfg Config) ([]push.Provider, string, error) {
	pc := cfg.Providers
	var out []push.Provider
	vapid := ""
	if pc.APNs != nil {
		p, err := push.NewAPNs(*pc.APNs)
		if err != nil {
			return nil, "", fmt.Errorf("apns: %w", err)
		}
		out = append(out, p)
	}
	if pc.FCM != nil {
		p, err := push.NewFCM(ctx, *pc.FCM)
		if err != nil {
			return nil, "", fmt.Errorf("fcm: %w", err)
		}
		out = append(out, p)
	}
	if pc.WebPush != nil {
		wc := *pc.WebPush
		if wc.VAPIDPublicKey == "" && wc.VAPIDPrivateKey == "" {
			pub, priv, err := loadOrCreateVAPID(filepath.Join(cfg.DataDir, VAPIDFile))
			if err != nil {
				return nil, "", err
			}
			wc.VAPIDPublicKey, wc.VAPIDPrivateKey = pub, priv
		}
		p, err := push.NewWebPush(wc)
		if err != nil {
			return nil, "", fmt.Errorf("web push: %w", err)
		}
		out = append(out, p)
		vapid = wc.VAPIDPublicKey
	}
	if pc.WNS != nil {
		p, err := push.NewWNS(*pc.WNS)
		if err != nil {
			return nil, "", fmt.Errorf("wns: %w", err)
		}
		out = append(out, p)
	}
	return out, vapid, nil
}

type vapidKeys struct {
	Public  string `json:"public_key"`
	Private string `json:"private_key"`
}

// loadOrCreateVAPID reads the key pair at path, making it on first use.
// Nodes that share subscriptions must share the pair: give them the same
// keys by flag instead.
func loadOrCreateVAPID(path string) (public, private string, err error) {
	b, err := os.ReadFile(path)
	if err == nil {
		var k vapidKeys
		if err := json.Unmarshal(b, &k); err != nil || k.Public == "" || k.Private == "" {
			return "", "", fmt.Errorf("%s: not a VAPID key pair", path)
		}
		return k.Public, k.Private, nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return "", "", fmt.Errorf("vapid keys: %w", err)
	}
	pub, priv, err := push.GenerateVAPIDKeys()
	if err != nil {
		return "", "", err
	}
	b, _ = json.Marshal(vapidKeys{pub, priv})
	if err := writeFileAtomic(path, b); err != nil {
		return "", "", fmt.Errorf("vapid keys: %w", err)
	}
	return pub, priv, nil
}
