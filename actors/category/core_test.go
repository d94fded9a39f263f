package category

import (
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/emporium-shop/emporium"
	"github.com/emporium-shop/emporium/actors"
	"github.com/emporium-shop/emporium/actors/actorstest"
	pb "github.com/emporium-shop/emporium/protos/categorypb"
)

var (
	t0 = time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)
	at = timestamppb.New(t0)
)

// given builds a state by applying events, the way a replay does.
func given(events ...proto.Message) *pb.State { return actorstest.Given(&Spec, "", events...) }

// decideAsShell decides cmd as the shell does: what expired first, then
// the command id, then decide.
func decideAsShell(s *pb.State, cmd proto.Message, now time.Time) ([]proto.Message, error) {
	return actorstest.Decide(&Spec, s, cmd, now, func(s *pb.State) ([]proto.Message, error) { return decide(s, cmd, now) })
}

// created is the event of a Create of id under parent, by command "c-"+id.
func created(id, name, slug, parent string) *pb.CategoryCreated {
	return &pb.CategoryCreated{CommandId: "c-" + id, Id: id, Name: name, Slug: slug, ParentId: parent, At: at}
}

// chain is a path of n categories, l1 under nothing, l2 under l1, ...
func chain(n int) []proto.Message {
	var evs []proto.Message
	for i := 1; i <= n; i++ {
		parent := ""
		if i > 1 {
			parent = fmt.Sprint("l", i-1)
		}
		evs = append(evs, created(fmt.Sprint("l", i), fmt.Sprint("Level ", i), fmt.Sprint("level-", i), parent))
	}
	return evs
}

// shop is a small tree: Clothing > (Shoes > Boots, Shirts); Garden.
func shop() []proto.Message {
	return []proto.Message{
		created("clothing", "Clothing", "clothing", ""),
		created("shoes", "Shoes", "shoes", "clothing"),
		created("boots", "Boots", "boots", "shoes"),
		created("shirts", "Shirts", "shirts", "clothing"),
		created("garden", "Garden", "garden", ""),
	}
}

type check = actorstest.Check

// runChecks runs a table of checks against the core, decided as the shell
// decides at t0.
func runChecks(t *testing.T, tests []check) {
	t.Helper()
	actorstest.RunChecks(t, tests, given, func(s *pb.State, cmd proto.Message) ([]proto.Message, error) {
		return decideAsShell(s, cmd, t0)
	})
}

func TestDecideCreate(t *testing.T) {
	long := func(n int) string { return strings.Repeat("x", n) }
	runChecks(t, []check{
		{Name: "root", Cmd: &pb.CreateRequest{CommandId: "k1", Id: "c1", Name: "Books", Slug: "books"},
			Want: []proto.Message{&pb.CategoryCreated{CommandId: "k1", Id: "c1", Name: "Books", Slug: "books", At: at}}},
		{Name: "child, name trimmed, slug made from it", Given: shop(),
			Cmd:  &pb.CreateRequest{CommandId: "k1", Id: "c1", Name: "  Crème Brûlée & Co.  ", ParentId: "garden"},
			Want: []proto.Message{&pb.CategoryCreated{CommandId: "k1", Id: "c1", Name: "Crème Brûlée & Co.", Slug: "creme-brulee-co", ParentId: "garden", At: at}}},
		{Name: "retry answered from state", Given: shop(), Cmd: &pb.CreateRequest{CommandId: "c-shoes", Id: "shoes", Name: "Shoes"}},
		{Name: "retry of a create deleted since", Given: append(shop(), &pb.CategoryDeleted{CommandId: "d", Id: "garden", At: at}),
			Cmd: &pb.CreateRequest{CommandId: "c-garden", Id: "garden", Name: "Garden"}},
		{Name: "same id, another command", Given: shop(), Cmd: &pb.CreateRequest{CommandId: "k2", Id: "shoes", Name: "Shoes"},
			ErrCode: emporium.ECONFLICT},
		{Name: "command id reused for another category", Given: shop(), Cmd: &pb.CreateRequest{CommandId: "c-shoes", Id: "sandals", Name: "Sandals"},
			ErrCode: emporium.EIDEMPOTENCY},
		{Name: "no command id", Cmd: &pb.CreateRequest{Id: "c1", Name: "Books"},
			ErrCode: emporium.EINVALID, Field: "command_id", FieldCode: emporium.FieldRequired},
		{Name: "no id", Cmd: &pb.CreateRequest{CommandId: "k1", Name: "Books"},
			ErrCode: emporium.EINVALID, Field: "id", FieldCode: emporium.FieldRequired},
		{Name: "bad id", Cmd: &pb.CreateRequest{CommandId: "k1", Id: "a b", Name: "Books"},
			ErrCode: emporium.EINVALID, Field: "id", FieldCode: emporium.FieldInvalid},
		{Name: "id too long", Cmd: &pb.CreateRequest{CommandId: "k1", Id: long(MaxID + 1), Name: "Books"},
			ErrCode: emporium.EINVALID, Field: "id", FieldCode: emporium.FieldTooLong},
		{Name: "no name", Cmd: &pb.CreateRequest{CommandId: "k1", Id: "c1", Name: "   "},
			ErrCode: emporium.EINVALID, Field: "name", FieldCode: emporium.FieldRequired},
		{Name: "name too long", Cmd: &pb.CreateRequest{CommandId: "k1", Id: "c1", Name: long(MaxName + 1)},
			ErrCode: emporium.EINVALID, Field: "name", FieldCode: emporium.FieldTooLong},
		{Name: "name with a control character", Cmd: &pb.CreateRequest{CommandId: "k1", Id: "c1", Name: "a\x00b"},
			ErrCode: emporium.EINVALID, Field: "name", FieldCode: emporium.FieldInvalid},
		{Name: "name of 100 characters", Cmd: &pb.CreateRequest{CommandId: "k1", Id: "c1", Name: strings.Repeat("é", MaxName), Slug: "e"},
			Want: []proto.Message{&pb.CategoryCreated{CommandId: "k1", Id: "c1", Name: strings.Repeat("é", MaxName), Slug: "e", At: at}}},
		{Name: "slug with capitals", Cmd: &pb.CreateRequest{CommandId: "k1", Id: "c1", Name: "Books", Slug: "Books"},
			ErrCode: emporium.EINVALID, Field: "slug", FieldCode: emporium.FieldInvalid},
		{Name: "slug with a double hyphen", Cmd: &pb.CreateRequest{CommandId: "k1", Id: "c1", Name: "Books", Slug: "old--books"},
			ErrCode: emporium.EINVALID, Field: "slug", FieldCode: emporium.FieldInvalid},
		{Name: "slug ending in a hyphen", Cmd: &pb.CreateRequest{CommandId: "k1", Id: "c1", Name: "Books", Slug: "books-"},
			ErrCode: emporium.EINVALID, Field: "slug", FieldCode: emporium.FieldInvalid},
		{Name: "slug too long", Cmd: &pb.CreateRequest{CommandId: "k1", Id: "c1", Name: "Books", Slug: long(MaxSlug + 1)},
			ErrCode: emporium.EINVALID, Field: "slug", FieldCode: emporium.FieldTooLong},
		{Name: "no slug can be made", Cmd: &pb.CreateRequest{CommandId: "k1", Id: "c1", Name: "Книги"},
			ErrCode: emporium.EINVALID, Field: "slug", FieldCode: emporium.FieldRequired},
		{Name: "slug taken", Given: shop(), Cmd: &pb.CreateRequest{CommandId: "k1", Id: "c1", Name: "Other", Slug: "shoes"},
			ErrCode: emporium.EINVALID, Field: "slug", FieldCode: emporium.FieldTaken},
		{Name: "slug made from the name taken", Given: shop(), Cmd: &pb.CreateRequest{CommandId: "k1", Id: "c1", Name: "SHOES!"},
			ErrCode: emporium.EINVALID, Field: "slug", FieldCode: emporium.FieldTaken},
		{Name: "unknown parent", Given: shop(), Cmd: &pb.CreateRequest{CommandId: "k1", Id: "c1", Name: "X", ParentId: "nope"},
			ErrCode: emporium.EINVALID, Field: "parent_id", FieldCode: emporium.FieldNotFound},
		{Name: "fifth level", Given: chain(4), Cmd: &pb.CreateRequest{CommandId: "k1", Id: "c1", Name: "X", ParentId: "l4"},
			Want: []proto.Message{&pb.CategoryCreated{CommandId: "k1", Id: "c1", Name: "X", Slug: "x", ParentId: "l4", At: at}}},
		{Name: "sixth level", Given: chain(5), Cmd: &pb.CreateRequest{CommandId: "k1", Id: "c1", Name: "X", ParentId: "l5"},
			ErrCode: emporium.EINVALID, Field: "parent_id", FieldCode: emporium.FieldTooDeep},
	})
}

func TestCreateRefusedWhenTheTreeIsFull(t *testing.T) {
	s := newState()
	for i := range MaxCategories {
		id := fmt.Sprint("c", i)
		s.Categories[id] = &pb.Node{Id: id, Name: id, Slug: id, CreatedBy: "k" + id}
	}
	_, err := decideAsShell(s, &pb.CreateRequest{CommandId: "k", Id: "one-more", Name: "One more"}, t0)
	require.Error(t, err)
	assert.Equal(t, emporium.EINVALID, emporium.ErrorCode(err))
	assert.Contains(t, emporium.ErrorMessage(err), "10000")

	// Below the limit again, it is accepted.
	delete(s.Categories, "c0")
	evs, err := decideAsShell(s, &pb.CreateRequest{CommandId: "k", Id: "one-more", Name: "One more"}, t0)
	require.NoError(t, err)
	assert.Len(t, evs, 1)
}

func TestDecideUpdate(t *testing.T) {
	str := wrapperspb.String
	upd := func(mut func(*pb.UpdateRequest)) *pb.UpdateRequest {
		u := &pb.UpdateRequest{CommandId: "u1", Id: "shoes"}
		mut(u)
		return u
	}
	runChecks(t, []check{
		{Name: "rename keeps the slug", Given: shop(), Cmd: upd(func(u *pb.UpdateRequest) { u.Name = str(" Footwear ") }),
			Want: []proto.Message{&pb.CategoryUpdated{CommandId: "u1", Id: "shoes", Name: str("Footwear"), At: at}}},
		{Name: "rename with an empty slug remakes it", Given: shop(),
			Cmd:  upd(func(u *pb.UpdateRequest) { u.Name = str("Footwear"); u.Slug = str("") }),
			Want: []proto.Message{&pb.CategoryUpdated{CommandId: "u1", Id: "shoes", Name: str("Footwear"), Slug: str("footwear"), At: at}}},
		{Name: "new slug", Given: shop(), Cmd: upd(func(u *pb.UpdateRequest) { u.Slug = str("all-shoes") }),
			Want: []proto.Message{&pb.CategoryUpdated{CommandId: "u1", Id: "shoes", Slug: str("all-shoes"), At: at}}},
		{Name: "own slug again changes nothing", Given: shop(), Cmd: upd(func(u *pb.UpdateRequest) { u.Slug = str("shoes"); u.Name = str("Shoes") })},
		{Name: "slug of another", Given: shop(), Cmd: upd(func(u *pb.UpdateRequest) { u.Slug = str("boots") }),
			ErrCode: emporium.EINVALID, Field: "slug", FieldCode: emporium.FieldTaken},
		{Name: "bad name", Given: shop(), Cmd: upd(func(u *pb.UpdateRequest) { u.Name = str("") }),
			ErrCode: emporium.EINVALID, Field: "name", FieldCode: emporium.FieldRequired},
		{Name: "move", Given: shop(), Cmd: upd(func(u *pb.UpdateRequest) { u.ParentId = str("garden") }),
			Want: []proto.Message{&pb.CategoryUpdated{CommandId: "u1", Id: "shoes", ParentId: str("garden"), At: at}}},
		{Name: "move to the roots", Given: shop(), Cmd: upd(func(u *pb.UpdateRequest) { u.ParentId = str("") }),
			Want: []proto.Message{&pb.CategoryUpdated{CommandId: "u1", Id: "shoes", ParentId: str(""), At: at}}},
		{Name: "move under itself", Given: shop(), Cmd: upd(func(u *pb.UpdateRequest) { u.ParentId = str("shoes") }),
			ErrCode: emporium.EINVALID, Field: "parent_id", FieldCode: emporium.FieldCycle},
		{Name: "move under a descendant", Given: shop(), Cmd: upd(func(u *pb.UpdateRequest) { u.Id = "clothing"; u.ParentId = str("boots") }),
			ErrCode: emporium.EINVALID, Field: "parent_id", FieldCode: emporium.FieldCycle},
		{Name: "move under an unknown parent", Given: shop(), Cmd: upd(func(u *pb.UpdateRequest) { u.ParentId = str("nope") }),
			ErrCode: emporium.EINVALID, Field: "parent_id", FieldCode: emporium.FieldNotFound},
		{Name: "move a sub-tree too deep", Given: append(chain(3), shop()...),
			Cmd:  upd(func(u *pb.UpdateRequest) { u.Id = "clothing"; u.ParentId = str("l2") }), // 2 + 3 levels fit
			Want: []proto.Message{&pb.CategoryUpdated{CommandId: "u1", Id: "clothing", ParentId: str("l2"), At: at}}},
		{Name: "move a sub-tree one level too deep", Given: append(chain(3), shop()...),
			Cmd:     upd(func(u *pb.UpdateRequest) { u.Id = "clothing"; u.ParentId = str("l3") }),
			ErrCode: emporium.EINVALID, Field: "parent_id", FieldCode: emporium.FieldTooDeep},
		{Name: "same parent changes nothing", Given: shop(), Cmd: upd(func(u *pb.UpdateRequest) { u.ParentId = str("clothing") })},
		{Name: "unknown category", Given: shop(), Cmd: upd(func(u *pb.UpdateRequest) { u.Id = "nope"; u.Name = str("X") }),
			ErrCode: emporium.ENOTFOUND},
		{Name: "retry answered from state", Given: append(shop(), &pb.CategoryUpdated{CommandId: "u1", Id: "shoes", Name: str("Footwear"), At: at}),
			Cmd: upd(func(u *pb.UpdateRequest) { u.Name = str("Footwear") })},
		{Name: "command id reused for another category", Given: append(shop(), &pb.CategoryUpdated{CommandId: "u1", Id: "boots", Name: str("B"), At: at}),
			Cmd: upd(func(u *pb.UpdateRequest) { u.Name = str("Footwear") }), ErrCode: emporium.EIDEMPOTENCY},
		{Name: "no command id", Given: shop(), Cmd: upd(func(u *pb.UpdateRequest) { u.CommandId = ""; u.Name = str("X") }),
			ErrCode: emporium.EINVALID, Field: "command_id", FieldCode: emporium.FieldRequired},
		{Name: "errors of every field", Given: shop(),
			Cmd:     upd(func(u *pb.UpdateRequest) { u.Name = str(""); u.Slug = str("Bad"); u.ParentId = str("nope") }),
			ErrCode: emporium.EINVALID, Field: "name", FieldCode: emporium.FieldRequired},
	})
}

func TestDecideDelete(t *testing.T) {
	runChecks(t, []check{
		{Name: "leaf", Given: shop(), Cmd: &pb.DeleteRequest{CommandId: "d1", Id: "boots"},
			Want: []proto.Message{&pb.CategoryDeleted{CommandId: "d1", Id: "boots", At: at}}},
		{Name: "with sub-categories", Given: shop(), Cmd: &pb.DeleteRequest{CommandId: "d1", Id: "clothing"},
			ErrCode: emporium.ECONFLICT},
		{Name: "unknown", Given: shop(), Cmd: &pb.DeleteRequest{CommandId: "d1", Id: "nope"},
			ErrCode: emporium.ENOTFOUND},
		{Name: "retry answered from state", Given: append(shop(), &pb.CategoryDeleted{CommandId: "d1", Id: "boots", At: at}),
			Cmd: &pb.DeleteRequest{CommandId: "d1", Id: "boots"}},
		{Name: "no command id", Given: shop(), Cmd: &pb.DeleteRequest{Id: "boots"},
			ErrCode: emporium.EINVALID, Field: "command_id", FieldCode: emporium.FieldRequired},
	})
	s := given(shop()...)
	_, err := decideAsShell(s, &pb.DeleteRequest{CommandId: "d1", Id: "clothing"}, t0)
	assert.Contains(t, emporium.ErrorMessage(err), "2 sub-categories")
}

func TestMakeSlug(t *testing.T) {
	for name, want := range map[string]string{
		"Books":                   "books",
		"  Home & Garden  ":       "home-garden",
		"Crème Brûlée":            "creme-brulee",
		"ÆSIR Straße Øl Łódź":     "aesir-strasse-ol-lodz",
		"T-Shirts -- 2024!":       "t-shirts-2024",
		"__x__":                   "x",
		"Книги":                   "",
		"日本 books":                "books",
		strings.Repeat("ab ", 60): strings.TrimSuffix(strings.Repeat("ab-", 33), "-"),
		strings.Repeat("a", 150):  strings.Repeat("a", 100),
		"Ünïcödé Ĉàfé Ñandú Ÿ Ğ İ ı": "unicode-cafe-nandu-y-g-i-i",
	} {
		got := MakeSlug(name)
		assert.Equal(t, want, got, "MakeSlug(%q)", name)
		if got != "" {
			assert.True(t, CheckSlug(got), "MakeSlug(%q) = %q is not a valid slug", name, got)
		}
	}
}

func TestAnswers(t *testing.T) {
	s := given(shop()...)
	tr := tree(s)
	assert.Equal(t, uint64(5), tr.Version)
	require.Len(t, tr.Categories, 5)
	assert.Equal(t, "boots", tr.Categories[0].Id, "ordered by id")
	assert.Equal(t, "shoes", tr.Categories[0].ParentId)

	c, err := change(s, "shoes", false)
	require.NoError(t, err)
	assert.Equal(t, "Shoes", c.Category.Name)
	assert.Equal(t, uint64(5), c.Version)
	_, err = change(s, "nope", false)
	assert.Equal(t, emporium.ENOTFOUND, emporium.ErrorCode(err))
	c, err = change(s, "nope", true)
	require.NoError(t, err)
	assert.Nil(t, c.Category)

	// Fenced takes a seq, not a version.
	Spec.Fold(s, &pb.Fenced{})
	assert.Equal(t, uint64(5), s.Version)
}

func TestMemoryIsBounded(t *testing.T) {
	s := given(shop()...)
	for i := range actors.CommandsKept + 10 {
		Spec.Fold(s, &pb.CategoryUpdated{CommandId: fmt.Sprint("u", i), Id: "shoes", Name: wrapperspb.String(fmt.Sprint("S", i)), At: at})
	}
	assert.Len(t, s.RecentCommands, actors.CommandsKept)
	evs, err := decideAsShell(s, &pb.CreateRequest{CommandId: "c-shoes", Id: "shoes", Name: "Shoes"}, t0)
	require.NoError(t, err, "a late Create retry is still answered from state")
	assert.Empty(t, evs)
}

// checkInvariants fails unless the state is a valid tree: every parent
// exists, no category is its own ancestor, no path is longer than
// MaxDepth, slugs are valid and unique, and each node is keyed by its id.
func checkInvariants(t *testing.T, s *pb.State, where fmt.Stringer) {
	t.Helper()
	// Plain checks: this runs after every step, and testify's are slow
	// under the race detector.
	slugs := map[string]string{}
	for id, n := range s.Categories {
		if id != n.Id {
			t.Fatalf("%s: node %s keyed by %s", where, n.Id, id)
		}
		if !CheckSlug(n.Slug) {
			t.Fatalf("%s: bad slug %q", where, n.Slug)
		}
		if other, dup := slugs[n.Slug]; dup {
			t.Fatalf("%s: slug %q held by %s and %s", where, n.Slug, other, id)
		}
		slugs[n.Slug] = id
		level := 0
		for a := id; a != ""; a = s.Categories[a].ParentId {
			if _, ok := s.Categories[a]; !ok {
				t.Fatalf("%s: %s has a missing ancestor %s", where, id, a)
			}
			if level++; level > MaxDepth {
				// Beyond MaxDepth steps: too deep, or a cycle.
				t.Fatalf("%s: %s is deeper than %d levels or in a cycle", where, id, MaxDepth)
			}
		}
	}
	if len(s.Categories) > MaxCategories {
		t.Fatalf("%s: %d categories", where, len(s.Categories))
	}
}

// pos names a step of the random test in failure messages; it renders the
// command only when a message is printed.
type pos struct {
	seed uint64
	step int
	cmd  proto.Message
}

func (p pos) String() string { return fmt.Sprintf("seed %d step %d (%v)", p.seed, p.step, p.cmd) }

// TestRandomCommandsKeepInvariants drives the core with random commands
// over a small pool of ids, names and slugs, some repeated as Proto.Actor's
// retries would be, and checks after each that the state is a valid tree
// (acyclic, slugs unique, depth bounded), that a refused command left no
// events, that a retry changes nothing, and that replaying the events gives
// the same state.
func TestRandomCommandsKeepInvariants(t *testing.T) {
	ids := []string{"a", "b", "c", "d", "e", "f", "g", "h", "i", "j", "k", "l"}
	names := []string{"Shoes", "Boots", "Garden", "Tools", "Books", "Crème", "shoes", "X", "  ", "Y"}
	slugs := []string{"", "", "", "shoes", "boots", "tools", "x", "Bad Slug"}
	kinds := map[string]int{}
	codes := map[string]int{}
	defer func() {
		// The draw reaches every event and every refusal that matters.
		for _, k := range []string{"CategoryCreated", "CategoryUpdated", "move", "CategoryDeleted"} {
			assert.Positive(t, kinds[k], "no %s was drawn", k)
		}
		for _, c := range []string{emporium.FieldTaken, emporium.FieldNotFound, emporium.FieldCycle, emporium.FieldTooDeep, emporium.ECONFLICT, emporium.ENOTFOUND} {
			assert.Positive(t, codes[c], "no %s refusal was drawn", c)
		}
	}()
	for seed := range uint64(20) {
		r := rand.New(rand.NewPCG(seed, 11))
		s := newState()
		var journal []proto.Message
		var sent []proto.Message
		now := t0
		for step := range 300 {
			now = now.Add(time.Duration(r.IntN(60)) * time.Second)
			cmdID := fmt.Sprint("k", step)
			id := ids[r.IntN(len(ids))]
			// Mostly an existing parent, so that deep paths grow.
			parent := ""
			switch k := r.IntN(8); {
			case k < 5 && len(s.Categories) > 0:
				existing := slices.Sorted(maps.Keys(s.Categories))
				parent = existing[r.IntN(len(existing))]
			case k < 7:
				parent = ids[r.IntN(len(ids))]
			}
			var cmd proto.Message
			switch k := r.IntN(10); {
			case k < 1 && len(sent) > 0:
				cmd = sent[r.IntN(len(sent))] // a retry
			case k < 5:
				cmd = &pb.CreateRequest{CommandId: cmdID, Id: id, Name: names[r.IntN(len(names))], Slug: slugs[r.IntN(len(slugs))], ParentId: parent}
			case k < 8:
				u := &pb.UpdateRequest{CommandId: cmdID, Id: id}
				if r.IntN(2) == 0 {
					u.Name = wrapperspb.String(names[r.IntN(len(names))])
				}
				if r.IntN(3) == 0 {
					u.Slug = wrapperspb.String(slugs[r.IntN(len(slugs))])
				}
				if r.IntN(2) == 0 {
					u.ParentId = wrapperspb.String(parent)
				}
				cmd = u
			default:
				cmd = &pb.DeleteRequest{CommandId: cmdID, Id: id}
			}
			sent = append(sent, cmd)
			where := pos{seed, step, cmd}
			before := proto.Clone(s)
			events, err := decideAsShell(s, cmd, now)
			if !proto.Equal(before, s) {
				t.Fatalf("%s: decide changed the state", where)
			}
			if err != nil {
				if len(events) > 0 {
					t.Fatalf("%s: a refusal yielded events", where)
				}
				code := emporium.ErrorCode(err)
				require.Contains(t, []string{emporium.EINVALID, emporium.ENOTFOUND, emporium.ECONFLICT, emporium.EIDEMPOTENCY}, code, "%s: %v", where, err)
				codes[code]++
				for _, f := range emporium.ErrorFields(err) {
					codes[f.Code]++
				}
				continue
			}
			if r.IntN(10) == 0 {
				// The shell fenced a seq whose append it could not settle.
				Spec.Fold(s, &pb.Fenced{})
				journal = append(journal, &pb.Fenced{})
			}
			for _, ev := range events {
				v := s.Version
				Spec.Fold(s, ev)
				journal = append(journal, ev)
				kinds[string(ev.ProtoReflect().Descriptor().Name())]++
				if u, ok := ev.(*pb.CategoryUpdated); ok && u.ParentId != nil {
					kinds["move"]++
				}
				if s.Version != v+1 {
					t.Fatalf("%s: the event did not add one version", where)
				}
			}
			checkInvariants(t, s, where)
			// A retry of what was just done yields nothing.
			if len(events) > 0 {
				if again, err := decideAsShell(s, cmd, now); err != nil || len(again) > 0 {
					t.Fatalf("%s: a retry yielded %v, %v", where, again, err)
				}
			}
		}
		replayed := newState()
		for _, ev := range journal {
			Spec.Fold(replayed, ev)
		}
		require.True(t, proto.Equal(s, replayed), "seed %d: replay differs from the state", seed)
	}
}
