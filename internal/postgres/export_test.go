package postgres

// AckQuery is the statement Ack runs per mailbox, for the plan test.
const AckQuery = ackQuery
