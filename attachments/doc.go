// Package attachments hands out upload and download locations for
// encrypted media and keeps each attachment's record and lifecycle.
//
// Clients encrypt every attachment with a fresh key before upload; this
// package sees only a size, an owner and ciphertext it never reads. An
// upload goes in parts straight to the blob store (S3 presigned part
// requests, or signed URLs that hushd serves from its data directory), so
// a broken upload resumes with the parts it has, and the store refuses a
// part whose length is not the one signed. Completing checks every part's
// size against the declared total before the attachment can be downloaded.
//
// Downloads go through a CDN base URL when one is set, else through
// presigned (S3) or signed (filesystem) expiring URLs. Ids are 128 random
// bits, so knowing one is the capability to fetch its ciphertext.
//
// Deleting is two-phase and crash-safe: a record is first marked
// "deleting" (by expiry, by its owner, or by a trigger when its owner's
// account row is deleted), then the sweeper deletes the object or the
// unfinished upload, then the record. A crash in between finishes on the
// next sweep; nothing is left behind in the store or the bucket.
package attachments
