package clustertest

import (
	"fmt"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/cluster"
	"github.com/asynkron/protoactor-go/cluster/clusterproviders/test"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protodesc"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/descriptorpb"
	"google.golang.org/protobuf/types/dynamicpb"

	"github.com/emporium-shop/emporium"
	"github.com/emporium-shop/emporium/actors"
	"github.com/emporium-shop/emporium/actors/actorstest"
	"github.com/emporium-shop/emporium/persistence/persistencetest"
	cartpb "github.com/emporium-shop/emporium/protos/cartpb"
)

// futureMessage is a message of a type only a newer build has, as this
// .proto of that build would declare it:
//
//	syntax = "proto3";
//	package emporium.upgrade.v2;
//	message Future { string note = 1; }
//
// Its type is made at run time and never registered, so the members of this
// process (the current build) do not link it, exactly as an older member
// would not: only the sending side knows how to encode it.
func futureMessage(t *testing.T, note string) proto.Message {
	t.Helper()
	fdp := &descriptorpb.FileDescriptorProto{
		Name:    proto.String("emporium/upgrade/v2/future.proto"),
		Package: proto.String("emporium.upgrade.v2"),
		Syntax:  proto.String("proto3"),
		MessageType: []*descriptorpb.DescriptorProto{{
			Name: proto.String("Future"),
			Field: []*descriptorpb.FieldDescriptorProto{{
				Name: proto.String("note"), JsonName: proto.String("note"), Number: proto.Int32(1),
				Type:  descriptorpb.FieldDescriptorProto_TYPE_STRING.Enum(),
				Label: descriptorpb.FieldDescriptorProto_LABEL_OPTIONAL.Enum(),
			}},
		}},
	}
	fd, err := protodesc.NewFile(fdp, nil)
	require.NoError(t, err)
	md := fd.Messages().ByName("Future")
	msg := dynamicpb.NewMessage(md)
	msg.Set(md.Fields().ByName("note"), protoreflect.ValueOfString(note))
	require.False(t, actors.Linked(string(md.FullName())), "the current build must not link the newer type")
	return msg
}

// TestOlderMemberAnswersAMessageItDoesNotKnow is the rolling upgrade of
// DESIGN §2: a newer member sends an older one a message type and a grain
// method the older build does not have. The older member answers each with
// an unavailable error at once (not after the request timeout), stays in
// the cluster, and both members go on serving the grains they host.
func TestOlderMemberAnswersAMessageItDoesNotKnow(t *testing.T) {
	store := persistencetest.Open(t)
	agent := test.NewInMemAgent()
	older := startCartMember(t, agent, store)
	newer := startCartMember(t, agent, store)
	defer func() {
		newer.c.Shutdown(true)
		older.c.Shutdown(true)
	}()
	for _, m := range []*member{older, newer} {
		actorstest.WaitFor(t, 15*time.Second, "two members", func() bool { return len(actors.Members(m.c)) == 2 })
	}

	// A cart whose grain lives on the older member, and one on the newer.
	run := time.Now().UnixNano()
	ownedBy := func(m *member) string {
		for i := range 200 {
			id := fmt.Sprintf("upgrade-%d-%d", run, i)
			if pid := newer.c.Get(id, "CartGrain"); pid != nil && pid.Address == m.c.ActorSystem.Address() {
				return id
			}
		}
		t.Fatalf("no cart identity lands on %s", m.c.ActorSystem.Address())
		return ""
	}
	onOlder, onNewer := ownedBy(older), ownedBy(newer)

	start := time.Now()
	resp, err := newer.c.Request(onOlder, "CartGrain", futureMessage(t, "hello from v2"), cluster.WithTimeout(3*time.Second))
	require.NoError(t, err, "the older member answers, it does not time out")
	requireUnavailable(t, resp)

	resp, err = newer.c.Request(onOlder, "CartGrain", &cluster.GrainRequest{MethodIndex: 99}, cluster.WithTimeout(3*time.Second))
	require.NoError(t, err)
	requireUnavailable(t, resp)
	assert.Less(t, time.Since(start), 2*time.Second, "both answers came at once, not after a request timeout")

	// Both members still serve, in both directions.
	for i, via := range []*member{newer, older, newer, older} {
		for _, id := range []string{onOlder, onNewer} {
			_, err := cartpb.GetCartGrainGrainClient(via.c, id).AddItem(&cartpb.AddItemRequest{
				CommandId: fmt.Sprintf("add-%d", i), Sku: "MUG-A", Quantity: 1})
			require.NoError(t, err, "add to cart %s through %s after the unknown message", id, via.c.ActorSystem.Address())
		}
	}
	for _, id := range []string{onOlder, onNewer} {
		got, err := cartpb.GetCartGrainGrainClient(older.c, id).Get(&cartpb.GetRequest{})
		require.NoError(t, err)
		require.Len(t, got.GetLines(), 1)
		assert.Equal(t, int64(4), got.GetLines()[0].GetQuantity(), "cart %s has each add once", id)
	}
	assert.Equal(t, 2, len(actors.Members(older.c)), "the older member is still in the cluster")
}

func requireUnavailable(t *testing.T, resp any) {
	t.Helper()
	ge, ok := resp.(*cluster.GrainErrorResponse)
	require.True(t, ok, "answer %T %v is a grain error", resp, resp)
	assert.Equal(t, emporium.EUNAVAILABLE, ge.Reason)
	assert.Contains(t, ge.Message, "rolling upgrade")
}
