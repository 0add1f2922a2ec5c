package server

import (
	"context"
	"errors"
	"path/filepath"

	"github.com/hushmsg/hush/devices"
	"github.com/hushmsg/hush/gdpr"
)

// smsConfig settles which SMS sender cfg asks for. The development
// outbox is for the embedded profile only: with --db or --nats codes must
// leave the machine, so an unset --sms is an error there (or "none" when
// the server has test numbers, which need no SMS).
func smsConfig(cfg Config) (devices.SMSConfig, error) {
	sc := cfg.SMS
	production := cfg.DB != "" || cfg.NATS != ""
	switch {
	case sc.Kind == "" && !production:
		sc.Kind = devices.SMSDev
	case sc.Kind == "" && len(cfg.Devices.TestNumbers) > 0:
		sc.Kind = devices.SMSNone
	case sc.Kind == "":
		return sc, errors.New("--sms: with --db or --nats choose an SMS gateway: --sms webhook or --sms twilio (or --sms none to register only --test-numbers); see docs/operations.md")
	case sc.Kind == devices.SMSDev && production:
		return sc, errors.New("--sms dev writes codes to a file on one node: it is for the embedded profile only, not with --db or --nats; use --sms webhook or --sms twilio")
	}
	sc.OutboxPath = filepath.Join(cfg.DataDir, OutboxFile)
	return sc, sc.Validate()
}

// smsSender builds the sender cfg.SMS names (settled by smsConfig) and
// says in the log which it is.
func (n *Node) smsSender(cfg Config) (devices.SMSSender, error) {
	sender, desc, err := devices.NewSMSSender(cfg.SMS, n.log, n.Metrics.SMS)
	if err != nil {
		return nil, err
	}
	if cfg.SMS.Kind == devices.SMSDev {
		n.log.Warn("SMS sender: " + desc)
	} else {
		n.log.Info("SMS sender: " + desc)
	}
	return sender, nil
}

// retirer erases accounts replaced by a new registration of their number,
// as an erasure request would.
type retirer struct{ g *gdpr.Service }

func (r retirer) Retire(ctx context.Context, account string) error {
	_, err := r.g.Erase(ctx, "registration", account)
	return err
}
