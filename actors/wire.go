package actors

import (
	"fmt"
	"log/slog"
	"sync"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/asynkron/protoactor-go/cluster"
	"github.com/asynkron/protoactor-go/remote"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"

	"github.com/emporium-shop/emporium"
)

// Rolling upgrades put members of two builds in one cluster, so a member can
// receive a message its build does not have. Proto.Actor does not survive
// that: its protobuf serializer (remote/proto_serializer.go) looks the type
// name up in the registry, ignores the "not found", and calls New on the nil
// type it got, which panics on the gRPC goroutine of the endpoint reader and
// kills the process. Its serializers are a private list whose first entry is
// always used, so no serializer of ours can stand in front of it; what
// Proto.Actor does offer is gRPC's server options (remote.WithServerOptions).
// The guard below is a stream interceptor on the member's remote server: it
// reads each batch before the endpoint reader does, takes out every envelope
// the reader would die on, and answers its sender with an error, so an older
// member answers "unavailable" and keeps serving.
//
// A new grain method is the other face of the same upgrade: the generated
// actor of an older build has no case for the method's index and never
// answers, so the caller waits out its timeout three times. grainMethods
// (spec.go's Configure) answers those at once too.

// serializerProto and serializerJSON are the ids of Proto.Actor's two
// built-in serializers, in the order remote/serializer.go registers them.
const (
	serializerProto = 0
	serializerJSON  = 1
)

// unknownMessage is the error an older member answers for a message its
// build does not have. It crosses the cluster as a grain error, so a typed
// grain client returns it as an error and the gateway maps it like any
// other EUNAVAILABLE: the caller can retry once the upgrade is done.
func unknownMessage(what string) *cluster.GrainErrorResponse {
	return cluster.NewGrainErrorResponse(emporium.EUNAVAILABLE,
		fmt.Sprintf("this cluster member runs a build that does not know %s; retry once the rolling upgrade is done", what))
}

// wireGuard is the interceptor that keeps messages of unknown types away
// from Proto.Actor's endpoint reader.
type wireGuard struct {
	system *actor.ActorSystem
	log    *slog.Logger
	// warned holds the type names already logged, so that a newer member
	// sending one type at high rate logs it once, not once a message.
	warned sync.Map
}

// guardUnknownTypes returns the gRPC server option that installs the guard
// on a member's remote server.
func guardUnknownTypes(system *actor.ActorSystem, log *slog.Logger) grpc.ServerOption {
	g := &wireGuard{system: system, log: log}
	return grpc.ChainStreamInterceptor(func(srv any, ss grpc.ServerStream, _ *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
		return handler(srv, &guardedStream{ServerStream: ss, guard: g})
	})
}

// guardedStream is a remote server stream whose received batches are
// checked before the endpoint reader sees them.
type guardedStream struct {
	grpc.ServerStream
	guard *wireGuard
}

// RecvMsg receives the next message and, when it is a batch of envelopes,
// removes the envelopes the endpoint reader cannot take.
func (s *guardedStream) RecvMsg(m any) error {
	if err := s.ServerStream.RecvMsg(m); err != nil {
		return err
	}
	if rm, ok := m.(*remote.RemoteMessage); ok {
		if batch := rm.GetMessageBatch(); batch != nil {
			s.guard.filter(batch)
		}
	}
	return nil
}

// filter removes from batch the envelopes that would crash the endpoint
// reader: a type this build does not link, or indexes out of the batch's
// tables (which a peer of another protocol version could send). The sender
// of a removed request is answered with unknownMessage.
func (g *wireGuard) filter(batch *remote.MessageBatch) {
	kept := batch.Envelopes[:0]
	for _, env := range batch.Envelopes {
		typeName, problem := g.check(batch, env)
		if problem == "" {
			kept = append(kept, env)
			continue
		}
		if _, seen := g.warned.LoadOrStore(typeName+"|"+problem, true); !seen {
			g.log.Warn("cluster: dropped a message this build cannot read; its sender is answered unavailable",
				slog.String("type", typeName), slog.String("problem", problem))
		}
		if sender := senderOf(batch, env); sender != nil {
			g.system.Root.Send(sender, unknownMessage("the message type "+typeName))
		}
	}
	// The dropped envelopes' slots are cleared so the batch holds no
	// references past its length.
	clear(batch.Envelopes[len(kept):])
	batch.Envelopes = kept
}

// check returns the envelope's type name and, when the endpoint reader
// cannot take it, why not; an empty problem means it can.
func (g *wireGuard) check(batch *remote.MessageBatch, env *remote.MessageEnvelope) (typeName, problem string) {
	if env.TypeId < 0 || int(env.TypeId) >= len(batch.TypeNames) {
		return "?", "type index out of range"
	}
	typeName = batch.TypeNames[env.TypeId]
	if env.Target < 0 || int(env.Target) >= len(batch.Targets) {
		return typeName, "target index out of range"
	}
	if env.Sender < 0 || int(env.Sender) > len(batch.Senders) {
		return typeName, "sender index out of range"
	}
	switch env.SerializerId {
	case serializerProto:
		if !Linked(typeName) {
			return typeName, "type not linked into this build"
		}
	case serializerJSON:
		// The JSON serializer turns an unknown type into a JsonMessage
		// rather than failing.
	default:
		return typeName, fmt.Sprintf("serializer %d unknown", env.SerializerId)
	}
	return typeName, ""
}

// Linked reports whether this build links the protobuf message type named
// fullName, so that a peer's message of that type can be read.
func Linked(fullName string) bool {
	_, err := protoregistry.GlobalTypes.FindMessageByName(protoreflect.FullName(fullName))
	return err == nil
}

// senderOf returns the PID a request's answer goes to, as the endpoint
// reader would make it, or nil for a message sent without a sender (or
// with a sender index out of the batch's table).
func senderOf(batch *remote.MessageBatch, env *remote.MessageEnvelope) *actor.PID {
	if env.Sender <= 0 || int(env.Sender) > len(batch.Senders) {
		return nil
	}
	pid := batch.Senders[env.Sender-1]
	if env.SenderRequestId > 0 {
		pid = proto.Clone(pid).(*actor.PID)
		pid.RequestId = env.SenderRequestId
	}
	return pid
}

// grainMethods returns the receiver middleware that answers a grain request
// for a method the grain's service (named kind) does not have in this build,
// which the generated actor would leave unanswered. It returns nil when no
// linked service is named kind.
func grainMethods(kind string) actor.ReceiverMiddleware {
	methods, found := serviceMethods(kind)
	if !found {
		return nil
	}
	return func(next actor.ReceiverFunc) actor.ReceiverFunc {
		return func(c actor.ReceiverContext, env *actor.MessageEnvelope) {
			if req, ok := env.Message.(*cluster.GrainRequest); ok && int(req.MethodIndex) >= methods {
				if env.Sender != nil {
					c.ActorSystem().Root.Send(env.Sender, unknownMessage(fmt.Sprintf("method %d of %s", req.MethodIndex, kind)))
				}
				return
			}
			next(c, env)
		}
	}
}

// serviceMethods returns the number of methods of the linked protobuf
// service whose short name is name (a grain kind is named after its
// service).
func serviceMethods(name string) (methods int, found bool) {
	protoregistry.GlobalFiles.RangeFiles(func(fd protoreflect.FileDescriptor) bool {
		services := fd.Services()
		for i := range services.Len() {
			if s := services.Get(i); string(s.Name()) == name {
				methods, found = s.Methods().Len(), true
				return false
			}
		}
		return true
	})
	return methods, found
}
