// Package devices owns accounts and their devices: registration by phone
// number and one-time code, linking further devices, the credentials every
// request and WebSocket is authenticated with, the device list, the
// directory from phone number to account id, and a device's coarse last
// seen day.
//
// It promises that a code is six digits, lives ten minutes and allows five
// tries; that it keeps only hashes of codes and device passwords and compares
// them in constant time; that a removed device's credential fails on the very
// next request (its sockets are closed over the bus); and that the identity
// key pair of an account only ever travels between its devices encrypted
// (the provisioning message is opaque here). It never logs a code, a
// password or a whole phone number.
package devices
