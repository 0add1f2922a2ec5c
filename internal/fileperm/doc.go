// Package fileperm keeps a program's private files private on disk: its
// data directory is 0700 and the files in it 0600 (the owner's bits
// only), created so and tightened when found looser, as an older version
// or a umask may have left them. It reports what it changed by count and
// never by path, so that a log of it names no secret file.
package fileperm
