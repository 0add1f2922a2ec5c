// Package devices owns accounts and their devices: registration by phone
// number and one-time code sent through an SMS gateway (a signed webhook,
// Twilio, or a development outbox), the registration lock, linking
// further devices, the credentials every request and WebSocket is
// authenticated with, the device list, the directory from phone number to
// account id, and a device's coarse last seen day.
//
// It promises that a code is six digits, lives ten minutes and allows five
// tries, each counted in the store before the code is compared, so that
// concurrent tries on any number of nodes cannot exceed them; that expired
// codes are swept; that it keeps only hashes of codes, device passwords
// and registration lock tokens and compares them in constant time; that a
// number registered again with a code alone becomes a new account (the old
// one loses its devices at once and is erased), unless the account has a
// registration lock and was active lately, which then takes the lock's
// token, whose tries are counted and limited; that a removed device's
// credential fails on the very next request (its sockets are closed over
// the bus); and that the identity key pair of an account only ever
// travels between its devices encrypted (the provisioning message is
// opaque here). It never logs a code, a password, a token or a whole
// phone number, and never puts them in an error or a metric.
package devices
