package sqlitestore

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.mongodb.org/mongo-driver/v2/bson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/emporium-shop/emporium/persistence"
)

// TestQueriesUseIndexes runs every kind of read the store makes, on
// collections with the indexes a node declares, and asks SQLite for the
// plan of each statement the read ran (the store keeps its read
// statements, prepared, by their SQL): each must search an index or the
// primary key, never scan a table or an index, and never sort what it
// found, so that its cost does not grow with the collection. The journal's
// tail query, which runs in the writer's transactions, is checked too.
func TestQueriesUseIndexes(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	s, err := Open(ctx, persistence.Config{DataDir: t.TempDir()})
	require.NoError(t, err)
	t.Cleanup(func() { assert.NoError(t, s.Close(context.Background())) })
	p := s.Projections()

	// The indexes as a node declares them, and documents to find.
	require.NoError(t, p.EnsureIndex(ctx, "products", "vendor", "-_id"))
	require.NoError(t, p.EnsureIndex(ctx, "products", "indexed", "_id"))
	require.NoError(t, p.EnsureIndex(ctx, "holds", "expires"))
	now := time.Now()
	var ids []string
	for i := range 200 {
		id := fmt.Sprintf("p%03d", i)
		ids = append(ids, id)
		p.Put("products", id, 1, bson.M{"vendor": fmt.Sprintf("v%d", i%7), "title": id})
		if i%2 == 0 {
			p.Put("holds", id, 1, bson.M{"expires": now.Add(time.Duration(i-100) * time.Minute)})
		} else {
			p.Put("holds", id, 1, bson.M{"expires": nil})
		}
	}
	require.NoError(t, p.Flush(ctx))
	require.NoError(t, p.SetMark(ctx, "products", "indexed", persistence.Mark{ID: "p001", Seq: 1}))
	_, err = s.Journal().Append(ctx, "cart/1", 0, wrapperspb.String("a"), wrapperspb.String("b"))
	require.NoError(t, err)
	require.NoError(t, s.Snapshots().Save(ctx, "cart/1", 1, wrapperspb.String("state")))

	var docs []bson.Raw
	reads := []struct {
		name string
		run  func() error
		// declared is the index the query must search, when it queries a
		// field: the one declared for that field.
		declared string
	}{
		{"Journal.Load", func() error {
			_, err := s.Journal().Load(ctx, "cart/1", 1, func(uint64, time.Time, proto.Message) error { return nil })
			return err
		}, ""},
		{"Snapshots.Load", func() error {
			_, _, err := s.Snapshots().Load(ctx, "cart/1", &wrapperspb.StringValue{})
			return err
		}, ""},
		{"Projections.Get", func() error {
			_, err := p.Get(ctx, "products", "p001", nil)
			return err
		}, ""},
		{"Projections.GetMany", func() error { return p.GetMany(ctx, "products", ids[:20], &docs) }, ""},
		{"Projections.List", func() error { return p.List(ctx, "products", "vendor", "v3", "", 20, &docs) }, "ix:products:vendor,-_id"},
		{"Projections.List next page", func() error {
			return p.List(ctx, "products", "vendor", "v3", "p150", 20, &docs)
		}, "ix:products:vendor,-_id"},
		{"Projections.DueBefore", func() error {
			_, err := p.DueBefore(ctx, "holds", "expires", now, 20)
			return err
		}, "ix:holds:expires"},
		{"Projections.Unmarked", func() error {
			_, err := p.Unmarked(ctx, "products", "indexed", "", 20)
			return err
		}, "ix:products:indexed,_id"},
		{"Projections.Unmarked next page", func() error {
			_, err := p.Unmarked(ctx, "products", "indexed", "p050", 20)
			return err
		}, "ix:products:indexed,_id"},
		{"Projections.EachID", func() error {
			return p.EachID(ctx, "products", 50, func([]string) error { return nil })
		}, ""},
	}
	for _, r := range reads {
		before := s.readStatements()
		require.NoError(t, r.run(), r.name)
		var ran []string
		for _, stmt := range s.readStatements() {
			if !slices.Contains(before, stmt) {
				ran = append(ran, stmt)
			}
		}
		require.NotEmpty(t, ran, "%s ran no statement of its own on the read pool", r.name)
		for _, stmt := range ran {
			checkPlan(t, s, r.name, stmt, r.declared)
		}
	}
	checkPlan(t, s, "Journal.Append (the stream's tail)", journalTailQuery, "")
}

// readStatements returns the SQL of the statements the store has prepared
// on its read pool.
func (s *Store) readStatements() []string {
	var stmts []string
	s.reads.Range(func(k, _ any) bool {
		stmts = append(stmts, k.(string))
		return true
	})
	return stmts
}

// checkPlan fails the test if stmt's plan has a problem (planProblems).
func checkPlan(t *testing.T, s *Store, name, stmt, declared string) {
	t.Helper()
	plan, problems := planProblems(t, s, stmt, declared)
	t.Logf("%s: %s\n\t%s", name, stmt, plan)
	for _, problem := range problems {
		t.Errorf("%s %s: %s\n\tstatement: %s", name, problem, plan, stmt)
	}
}

// planProblems asks SQLite how it runs stmt and returns the plan and what
// is wrong with it: a step that scans (a table, or a whole index), a sort
// of the rows found, no search of an index, or a search of another index
// than declared (when it is not empty).
func planProblems(t *testing.T, s *Store, stmt, declared string) (plan string, problems []string) {
	t.Helper()
	args := make([]any, strings.Count(stmt, "?"))
	for i := range args {
		args[i] = "x"
	}
	rows, err := s.reader.QueryContext(t.Context(), "EXPLAIN QUERY PLAN "+stmt, args...)
	require.NoError(t, err, stmt)
	defer rows.Close()
	var steps []string
	for rows.Next() {
		var id, parent, unused int
		var detail string
		require.NoError(t, rows.Scan(&id, &parent, &unused, &detail))
		steps = append(steps, detail)
	}
	require.NoError(t, rows.Err())

	searches := false
	for _, step := range steps {
		switch {
		case strings.HasPrefix(step, "SCAN "):
			problems = append(problems, "scans")
		case strings.Contains(step, "TEMP B-TREE"):
			problems = append(problems, "sorts what it found instead of reading it in order from an index")
		case strings.HasPrefix(step, "SEARCH ") && (strings.Contains(step, " USING INDEX ") ||
			strings.Contains(step, " USING COVERING INDEX ") || strings.Contains(step, " USING PRIMARY KEY ") ||
			strings.Contains(step, " USING INTEGER PRIMARY KEY ")):
			searches = true
			if declared != "" && !strings.Contains(step, " INDEX "+declared+" ") {
				problems = append(problems, "searches another index than "+declared)
			}
		}
	}
	if !searches {
		problems = append(problems, "searches no index")
	}
	return strings.Join(steps, "; "), problems
}

// TestPlanProblemsSeesScans checks the checker: statements that scan, sort
// or search the wrong index are reported.
func TestPlanProblemsSeesScans(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	s, err := Open(ctx, persistence.Config{DataDir: t.TempDir()})
	require.NoError(t, err)
	t.Cleanup(func() { assert.NoError(t, s.Close(context.Background())) })
	require.NoError(t, s.Projections().EnsureIndex(ctx, "products", "vendor", "-_id"))
	require.NoError(t, s.Projections().EnsureIndex(ctx, "products", "price"))

	for stmt, want := range map[string]string{
		`SELECT id FROM "doc:products" WHERE body = ?`:                        "scans",
		`SELECT count(*) FROM "doc:products"`:                                 "scans",
		`SELECT id FROM "doc:products" WHERE "f:vendor" = ? ORDER BY n`:       "sorts what it found",
		`SELECT id FROM "doc:products" WHERE "f:price" < ? ORDER BY id`:       "scans", // the id index, to spare the sort
		`SELECT id FROM "doc:products" WHERE "f:price" = ? AND id = ?`:        "searches another index",
		`SELECT seq FROM journal WHERE type = ? ORDER BY stream, seq`:         "scans",
		`SELECT id FROM "doc:products" WHERE "f:vendor" = ? ORDER BY id DESC`: "",
	} {
		_, problems := planProblems(t, s, stmt, "ix:products:vendor,-_id")
		if want == "" {
			assert.Empty(t, problems, stmt)
			continue
		}
		assert.True(t, slices.ContainsFunc(problems, func(p string) bool { return strings.HasPrefix(p, want) }),
			"%s: got %q, want %q", stmt, problems, want)
	}
}
