package mongostore

// UseMongoDBStrategies makes a freshly opened store read and write as it
// does on MongoDB (conditional filters, indexed queries, no key locks) even
// on FerretDB, so that those code paths run in tests without a MongoDB
// server. Concurrent conditional writes are then not atomic on FerretDB,
// so only sequential tests may rely on them.
func UseMongoDBStrategies(s *Store) {
	s.ferret = false
	s.locks = nil
}

// CommitID is commitID, for tests that plant commits.
var CommitID = commitID
