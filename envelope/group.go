package envelope

import (
	"context"
	"net/http"
	"slices"

	"github.com/google/uuid"

	"github.com/hushmsg/hush/internal/api"
	"github.com/hushmsg/hush/internal/auth"
	"github.com/hushmsg/hush/internal/bus"
	"github.com/hushmsg/hush/internal/httpx"
)

// GroupDevices returns every device of every member of a group, with
// registration ids, or an *httpx.Error (404) when member is not one of
// them. The groups package provides it.
type GroupDevices func(ctx context.Context, groupID, member string) ([]api.GroupRecipient, error)

// SetGroups enables group sends.
func (s *Service) SetGroups(devices GroupDevices) { s.groupDevices = devices }

// groupBodyLimit bounds a group send's JSON.
func (s *Service) groupBodyLimit() int64 {
	return int64(s.cfg.MaxContent*4/3 + s.cfg.MaxGroupRecipients*160 + 1024)
}

// GroupSend checks a group send against the members' devices and queues the
// one ciphertext for each of them, stored once.
func (s *Service) GroupSend(ctx context.Context, sender auth.Device, req *api.GroupSend) (*api.SendResult, error) {
	a, err := s.acceptGroup(ctx, sender, req)
	if err != nil {
		return nil, err
	}
	return a.answer(ctx)
}

// acceptGroup is accept for a group send: every envelope refers to one
// shared payload.
func (s *Service) acceptGroup(ctx context.Context, sender auth.Device, req *api.GroupSend) (*accepted, error) {
	if s.groupDevices == nil {
		return nil, httpx.Errorf(http.StatusNotFound, api.CodeNotFound, "groups are not enabled")
	}
	if err := s.checkGroupSend(req); err != nil {
		return nil, err
	}
	if ok, wait := s.sends.Allow(sender.AccountID); !ok {
		return nil, httpx.RateLimited(wait, "sends from this account")
	}
	devs, err := s.groupDevices(ctx, req.GroupID, sender.AccountID)
	if err != nil {
		return nil, err
	}
	want := map[string]map[uint32]uint32{}
	for _, d := range devs {
		if d.AccountID == sender.AccountID && d.DeviceID == sender.DeviceID {
			continue
		}
		if want[d.AccountID] == nil {
			want[d.AccountID] = map[uint32]uint32{}
		}
		want[d.AccountID][d.DeviceID] = d.RegistrationID
	}
	got := map[string]map[uint32]uint32{}
	for _, r := range req.Recipients {
		if got[r.AccountID] == nil {
			got[r.AccountID] = map[uint32]uint32{}
		}
		if _, dup := got[r.AccountID][r.DeviceID]; dup {
			return nil, httpx.Errorf(http.StatusBadRequest, api.CodeBadRequest, "device %d of %s named twice", r.DeviceID, r.AccountID)
		}
		got[r.AccountID][r.DeviceID] = r.RegistrationID
	}
	var accounts []string
	for a := range want {
		accounts = append(accounts, a)
	}
	for a := range got {
		if want[a] == nil {
			accounts = append(accounts, a)
		}
	}
	slices.Sort(accounts)
	if err := compareDevices(want, got, accounts); err != nil {
		return nil, err
	}

	now := s.now()
	id := newEnvelopeID()
	res := &api.SendResult{ID: id.String(), ServerTimestamp: now.UnixMilli()}
	if req.Ephemeral {
		for _, r := range req.Recipients {
			s.publishEphemeral(ctx, sender, res, r.AccountID, r.DeviceID, req.Type, req.Content, req.GroupID)
		}
		return &accepted{s: s, res: res}, nil
	}
	if len(req.Recipients) == 0 {
		return &accepted{s: s, res: res}, nil // a group of one device: nothing to queue
	}
	payload := uuid.New()
	outs := make([]*outbound, 0, len(req.Recipients))
	w := newSendWait(len(req.Recipients))
	w.skipFull = true
	var full []api.MailboxAddress
	for _, r := range req.Recipients {
		if s.full.wait(deviceKey{r.AccountID, r.DeviceID}, now) > 0 {
			full = append(full, api.MailboxAddress{AccountID: r.AccountID, DeviceID: r.DeviceID})
			w.resolve(nil)
			continue
		}
		outs = append(outs, &outbound{send: w, env: Stored{
			AccountID: r.AccountID, DeviceID: r.DeviceID, ID: id,
			SourceAccount: sender.AccountID, SourceDevice: sender.DeviceID,
			Type: req.Type, Content: req.Content,
			ServerTimestamp: res.ServerTimestamp, Expires: now.Add(s.cfg.TTL),
			Payload: payload, Group: req.GroupID,
		}, at: now})
	}
	s.m.Sent.Add(float64(len(outs)))
	s.m.GroupSends.Inc()
	s.route(outs)
	res.MailboxFull = full
	return &accepted{s: s, res: res, outs: outs, w: w, urgent: api.IsUrgent(req.Urgent)}, nil
}

func (s *Service) checkGroupSend(req *api.GroupSend) error {
	switch {
	case req.Type < 1 || req.Type > 255:
		return httpx.Errorf(http.StatusBadRequest, api.CodeBadRequest, "type must be 1..255")
	case len(req.Content) == 0:
		return httpx.Errorf(http.StatusBadRequest, api.CodeBadRequest, "content must not be empty")
	case len(req.Content) > s.cfg.MaxContent:
		return httpx.Errorf(http.StatusRequestEntityTooLarge, api.CodePayloadTooLarge, "content larger than %d bytes", s.cfg.MaxContent)
	case len(req.Recipients) > s.cfg.MaxGroupRecipients:
		return httpx.Errorf(http.StatusBadRequest, api.CodeBadRequest, "at most %d recipients per group send", s.cfg.MaxGroupRecipients)
	}
	for i, r := range req.Recipients {
		if _, err := httpx.AccountID(r.AccountID); err != nil {
			return httpx.Errorf(http.StatusBadRequest, api.CodeBadRequest, "recipients[%d]: malformed account id", i)
		}
		if r.DeviceID == 0 || r.DeviceID > httpx.MaxDeviceID {
			return httpx.Errorf(http.StatusBadRequest, api.CodeBadRequest, "recipients[%d]: device_id must be 1..%d", i, httpx.MaxDeviceID)
		}
	}
	return nil
}

// Poke tells every device of these accounts that its mailbox has news.
func (s *Service) Poke(ctx context.Context, accounts []string) {
	for _, a := range accounts {
		if err := s.bus.Publish(ctx, bus.Event{Kind: bus.Mailbox, Account: a}); err != nil {
			s.log.WarnContext(ctx, "publish mailbox event", "err", err)
		}
	}
}

func (s *Service) handleGroupSend(w http.ResponseWriter, r *http.Request) error {
	dev, _ := auth.From(r.Context())
	var req api.GroupSend
	if err := httpx.DecodeJSON(w, r, s.groupBodyLimit(), &req); err != nil {
		return err
	}
	id := r.PathValue("id")
	if req.GroupID != "" && req.GroupID != id {
		return httpx.Errorf(http.StatusBadRequest, api.CodeBadRequest, "group_id in the body differs from the path")
	}
	req.GroupID = id
	res, err := s.GroupSend(r.Context(), dev, &req)
	if err != nil {
		return err
	}
	httpx.WriteJSON(w, http.StatusOK, res)
	return nil
}
