package groups

import (
	"context"
	"errors"
	"time"

	"github.com/google/uuid"

	"github.com/hushmsg/hush/internal/api"
)

// Errors a Store returns.
var (
	ErrNotFound       = errors.New("group not found")
	ErrUnknownAccount = errors.New("no such account")
)

// Group is a group as stored.
type Group struct {
	ID      string
	Version int64
	Created int64 // Unix seconds
	Members []api.GroupMember
}

// Change is what a decision applies to a group, all in one transaction
// with the version bump.
type Change struct {
	Add     []api.GroupMember
	Remove  []string
	Promote []string
	Notices []Notice
}

// Notice is a server envelope queued for every device of Accounts, sharing
// one stored payload.
type Notice struct {
	Accounts        []string
	ID              uuid.UUID // the envelope id, the same for every device
	Payload         uuid.UUID
	Content         []byte
	ServerTimestamp int64 // Unix ms
	Expires         time.Time
}

// Device is one device a group send goes to.
type Device = api.GroupRecipient

// Store keeps groups. Implementations: internal/sqlite, internal/postgres.
type Store interface {
	// ChangeGroup locks the group (creating it empty, at version 0, when
	// create is set), runs decide on its state and applies the Change it
	// returns in the same transaction: members added (ErrUnknownAccount
	// if one has no account), removed and promoted, the version bumped by
	// one, and the notices queued. decide's error aborts it. It returns
	// the group after the change; ErrNotFound for an unknown group.
	ChangeGroup(ctx context.Context, groupID string, create bool, now time.Time, decide func(*Group) (*Change, error)) (*Group, error)
	// Group returns a group with its members, or ErrNotFound.
	Group(ctx context.Context, groupID string) (*Group, error)
	// GroupsOf lists the groups an account is a member of.
	GroupsOf(ctx context.Context, accountID string) ([]api.GroupSummary, error)
	// GroupDevices returns every device of every member of a group, or
	// ErrNotFound when member is not one of them.
	GroupDevices(ctx context.Context, groupID, member string) ([]Device, error)
}
