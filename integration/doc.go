// Package integration holds black-box tests: real hushd and hush processes,
// built from this tree, talking over loopback. They check what a user would
// see, not how the code is cut.
package integration
