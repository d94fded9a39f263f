package actors_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/asynkron/protoactor-go/cluster"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/proto"

	"github.com/emporium-shop/emporium"
	"github.com/emporium-shop/emporium/actors"
	"github.com/emporium-shop/emporium/actors/actorstest"
	pb "github.com/emporium-shop/emporium/protos/inventorypb"
)

// stockSpec is a small kind over the inventory's messages: enough to check
// what the shell does with command ids.
var stockSpec = actors.Spec[*pb.State, actors.GrainConfig]{
	Kind:         "TestGrain",
	StreamPrefix: "test-",
	New:          func(id string) *pb.State { return &pb.State{Sku: id} },
	Apply: func(s *pb.State, ev proto.Message) {
		if e, ok := ev.(*pb.Restocked); ok {
			s.OnHand += e.Quantity
		}
	},
	Remembered: func(s *pb.State) *[]string { return &s.RecentCommands },
}

func TestTheShellRemembersCommandIDs(t *testing.T) {
	s := actorstest.Given(&stockSpec, "x",
		&pb.Restocked{CommandId: "c1", Quantity: 1},
		&pb.Restocked{CommandId: "c2", Quantity: 2})
	assert.Equal(t, int64(3), s.OnHand, "the kind's Apply ran")
	assert.Equal(t, []string{"c1", "c2"}, s.RecentCommands)

	retry, err := stockSpec.Dedup(s, &pb.RestockRequest{CommandId: "c1", Quantity: 5})
	require.NoError(t, err)
	assert.True(t, retry, "a remembered id is a retry")
	retry, err = stockSpec.Dedup(s, &pb.RestockRequest{CommandId: "c3", Quantity: 5})
	require.NoError(t, err)
	assert.False(t, retry)
	retry, err = stockSpec.Dedup(s, &pb.GetAvailabilityRequest{})
	require.NoError(t, err, "a request without a command_id field passes")
	assert.False(t, retry)

	for _, id := range []string{"", fmt.Sprintf("%0129d", 0)} {
		_, err = stockSpec.Dedup(s, &pb.RestockRequest{CommandId: id, Quantity: 5})
		require.Error(t, err)
		assert.Equal(t, emporium.EINVALID, emporium.ErrorCode(err))
		require.Len(t, emporium.ErrorFields(err), 1)
		assert.Equal(t, "command_id", emporium.ErrorFields(err)[0].Field)
	}
}

func TestRememberedCommandIDsAreBounded(t *testing.T) {
	s := stockSpec.New("x")
	for i := range actors.CommandsKept + 10 {
		stockSpec.Fold(s, &pb.Restocked{CommandId: fmt.Sprint("c", i), Quantity: 1})
	}
	stockSpec.Fold(s, &pb.Restocked{CommandId: fmt.Sprint("c", actors.CommandsKept+9), Quantity: 1}) // already remembered
	assert.Len(t, s.RecentCommands, actors.CommandsKept)
	assert.Equal(t, "c10", s.RecentCommands[0], "the oldest are forgotten first")
	retry, err := stockSpec.Dedup(s, &pb.RestockRequest{CommandId: "c0", Quantity: 1})
	require.NoError(t, err)
	assert.False(t, retry)
}

func TestTopologySettlesOnTheMembersClock(t *testing.T) {
	system := actor.NewActorSystem()
	clock := actorstest.NewClock(time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC))
	topology := actors.NewTopology(system, clock)
	require.Same(t, topology, actors.TopologyOf(system))
	assert.Nil(t, actors.TopologyOf(actor.NewActorSystem()), "an actor system that is no member has none")
	assert.False(t, (*actors.Topology)(nil).Suspect(0))

	assert.False(t, topology.Suspect(topology.Mark()), "settled before any change")
	topology.Changed()
	assert.True(t, topology.Suspect(topology.Mark()))
	clock.Advance(9 * time.Second)
	assert.True(t, topology.Suspect(topology.Mark()))
	clock.Advance(time.Second)
	assert.False(t, topology.Suspect(topology.Mark()), "settled 10 s after the change, by the member's clock")
}

func TestTopologySuspectsStatesConfirmedBeforeItSettled(t *testing.T) {
	clock := actorstest.NewClock(time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC))
	topology := actors.NewTopology(actor.NewActorSystem(), clock)
	loaded := topology.Mark()
	assert.False(t, topology.Suspect(loaded), "no change seen: nothing is suspect")
	assert.False(t, (*actors.Topology)(nil).Suspect(0))

	clock.Advance(time.Minute)
	topology.Changed()
	clock.Advance(time.Minute)
	assert.True(t, topology.Suspect(loaded), "confirmed before the change, read long after it")
	inWindow := topology.Mark() - (time.Minute - 5*time.Second).Nanoseconds()
	assert.True(t, topology.Suspect(inWindow), "confirmed while the views converged")
	assert.False(t, topology.Suspect(topology.Mark()), "confirmed after the window")
}

func TestRingPlacesEachIdentityOnOneMember(t *testing.T) {
	members := []*cluster.Member{
		{Id: "a", Host: "10.0.0.1", Port: 6330, Kinds: []string{"CartGrain"}},
		{Id: "b", Host: "10.0.0.2", Port: 6330, Kinds: []string{"CartGrain"}},
		{Id: "c", Host: "10.0.0.3", Port: 6330, Kinds: []string{"CartGrain"}},
	}
	rings := make([]*actors.Ring, len(members))
	for i, m := range members {
		topology := actors.NewTopology(actor.NewActorSystem(), nil)
		assert.Nil(t, topology.Ring(), "no ring before the first topology")
		topology.Observe(members, m.Address())
		rings[i] = topology.Ring()
	}
	perMember := make([]int, len(members))
	for i := range 300 {
		id := fmt.Sprintf("user-%d", i)
		owners := 0
		for m, r := range rings {
			if r.Places("CartGrain", id) {
				owners++
				perMember[m]++
			}
		}
		require.Equal(t, 1, owners, "%s is placed on exactly one member", id)
		assert.True(t, rings[0].Places("OtherGrain", id), "a kind no member hosts is placed anywhere")
	}
	for m, n := range perMember {
		assert.Greater(t, n, 50, "member %d takes a share", m)
	}
	assert.Nil(t, (*actors.Topology)(nil).Ring())

	leaving := actors.NewTopology(actor.NewActorSystem(), nil)
	leaving.Observe(members[1:], members[0].Address())
	assert.Nil(t, leaving.Ring(), "a topology without the member itself places nothing")
}

func TestTopologyKeepsTheMembersItSawLast(t *testing.T) {
	members := []*cluster.Member{
		{Id: "a", Host: "10.0.0.1", Port: 6330},
		{Id: "b", Host: "10.0.0.2", Port: 6330},
	}
	topology := actors.NewTopology(actor.NewActorSystem(), nil)
	assert.Empty(t, topology.Members(), "none before the first topology")
	assert.False(t, topology.Joined())

	topology.Observe(members, members[0].Address())
	seen := topology.Members()
	assert.Equal(t, members, seen)
	assert.True(t, topology.Joined())
	seen[0] = nil
	members[1] = nil
	assert.Equal(t, "a", topology.Members()[0].Id, "a caller's slice is its own")
	assert.Equal(t, "b", topology.Members()[1].Id, "the event's slice is not kept")

	topology.Observe(topology.Members()[1:], "10.0.0.1:6330")
	assert.Len(t, topology.Members(), 1)
	assert.False(t, topology.Joined(), "a member missing from the list has not joined")
	assert.Empty(t, (*actors.Topology)(nil).Members())
	assert.False(t, (*actors.Topology)(nil).Joined())
}
