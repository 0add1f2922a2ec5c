// Package groups keeps groups and their members: create, add, remove,
// promote, leave, and the member lists a group send fans out to.
//
// It promises: only admins add, remove or promote; a member may always
// leave; a group's member list is shown to its members only (others get
// 404, as for a group that does not exist); every change bumps the group's
// version by one and queues, in the same transaction, a server notice
// (an envelope of type wire.EnvelopeGroupChange) for every device of every
// member and of the accounts the change removed, so devices learn of
// changes in order and rotate their sender keys. The server cannot read
// group messages: members encrypt them with Sender Keys.
package groups
