package ferretserver

import (
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync"
	"sync/atomic"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/emporium-shop/emporium/persistence/mongostore"
)

// The write gate is a MongoDB wire-protocol proxy in front of FerretDB. It
// lets at most one update, delete or findAndModify command run at a time on
// each collection, from whichever client connection it comes, and holds
// that collection's turn from the moment it forwards the command until
// FerretDB's reply passes back through it. FerretDB runs such a command as
// a query followed by a separate write (mongostore/ferret.go), so without
// the gate two clients whose filters both match version 3 of a document can
// both replace it; with it, the second command's query runs only after the
// first one's write is committed and sees version 4.
//
// Inserts pass ungated: they are atomic already, because the backend's
// unique _id index refuses a second document with the same _id, and the
// journal's group commits (inserts) from several nodes must not queue
// behind one another. Reads pass ungated too: they see each write whole.
//
// Only acknowledged writes are gated: a command sent with moreToCome (w:0)
// gets no reply to release the turn with, and Emporium never sends one.

// Wire protocol constants (MongoDB Wire Protocol, OP_MSG).
const (
	opMsg           = 2013
	headerLen       = 16
	maxMessageLen   = 48 << 20 // MongoDB's maxMessageSizeBytes
	flagChecksum    = 1 << 0
	flagMoreToCome  = 1 << 1
	sectionBody     = 0
	sectionSequence = 1
)

// gatedCommands are the commands that FerretDB runs as a query followed by
// a write, keyed in lower case (MongoDB matches command names that way for
// findAndModify).
var gatedCommands = map[string]bool{"update": true, "delete": true, "findandmodify": true}

// gate serialises FerretDB's read-then-write commands per collection.
type gate struct {
	log     *slog.Logger
	backend func(ctx context.Context) (net.Conn, error)

	mu    sync.Mutex
	turns map[string]chan struct{} // "db.collection" -> a one-slot semaphore
	// running bounds the gated commands in FerretDB at once, whatever their
	// collections: FerretDB holds a PostgreSQL connection per statement of
	// an update until the command ends (mongostore's ferret.go), so a few
	// commands of mongostore's bounded size always fit its pool of 50.
	running chan struct{}

	// gated counts the commands that took a turn, for tests and logs.
	gated atomic.Int64
	// nextID numbers the replies the gate writes itself.
	nextID atomic.Int32
}

func newGate(log *slog.Logger, backend func(ctx context.Context) (net.Conn, error)) *gate {
	return &gate{log: log, backend: backend, turns: map[string]chan struct{}{}, running: make(chan struct{}, gatedAtOnce)}
}

// gatedAtOnce is how many gated commands FerretDB runs at once: with
// mongostore's at most 8 statements per update, at most 4 x 9 of the
// PostgreSQL pool's 50 connections, the rest left to reads.
const gatedAtOnce = 4

// turn returns the semaphore of a collection, made on first use. The map
// grows with the number of collections, which is small and fixed.
func (g *gate) turn(key string) chan struct{} {
	g.mu.Lock()
	defer g.mu.Unlock()
	t, ok := g.turns[key]
	if !ok {
		t = make(chan struct{}, 1)
		g.turns[key] = t
	}
	return t
}

// serve accepts client connections on ln until ctx ends, and proxies each
// to its own connection to FerretDB.
func (g *gate) serve(ctx context.Context, ln net.Listener) {
	var wg sync.WaitGroup
	defer wg.Wait()
	go func() {
		<-ctx.Done()
		ln.Close()
	}()
	for {
		c, err := ln.Accept()
		if err != nil {
			if ctx.Err() == nil {
				g.log.Error("ferretserver: accept a client connection failed; the gate stops", "err", err)
			}
			return
		}
		wg.Go(func() { g.proxy(ctx, c) })
	}
}

// proxy passes messages between one client and FerretDB until either side
// closes, taking a collection's turn for each gated command and giving it
// back when the reply to that command passes.
func (g *gate) proxy(ctx context.Context, client net.Conn) {
	defer client.Close()
	server, err := g.backend(ctx)
	if err != nil {
		g.log.Error("ferretserver: connect to FerretDB failed; closing the client connection", "err", err)
		return
	}
	defer server.Close()

	// pending maps the requestID of each forwarded gated command to the
	// release of its turn; whatever is left when the connection ends is
	// released then, so a dead connection never keeps a collection shut.
	var mu sync.Mutex
	pending := map[int32]func(){}
	defer func() {
		mu.Lock()
		defer mu.Unlock()
		for id, release := range pending {
			release()
			delete(pending, id)
		}
	}()
	var writeClient sync.Mutex // the gate's own replies and FerretDB's share the client connection

	stop := make(chan struct{})
	var once sync.Once
	closeBoth := func() {
		once.Do(func() {
			close(stop)
			client.Close()
			server.Close()
		})
	}
	go func() {
		defer closeBoth()
		for {
			msg, err := readMessage(server)
			if err != nil {
				return
			}
			responseTo := int32(binary.LittleEndian.Uint32(msg[8:12]))
			mu.Lock()
			if release, ok := pending[responseTo]; ok {
				// The write is committed once FerretDB answers: let the next
				// command on the collection in.
				release()
				delete(pending, responseTo)
			}
			mu.Unlock()
			writeClient.Lock()
			_, err = client.Write(msg)
			writeClient.Unlock()
			if err != nil {
				return
			}
		}
	}()

	defer closeBoth()
	for {
		msg, err := readMessage(client)
		if err != nil {
			return
		}
		cmd, key, flags, ok := inspect(msg)
		if ok && cmd == strings.ToLower(mongostore.GateCommand) {
			writeClient.Lock()
			_, err = client.Write(g.answer(msg))
			writeClient.Unlock()
			if err != nil {
				return
			}
			continue
		}
		if ok && gatedCommands[cmd] && key != "" && flags&flagMoreToCome == 0 {
			turn := g.turn(key)
			select {
			case turn <- struct{}{}:
			case <-stop:
				return
			case <-ctx.Done():
				return
			}
			// The collection's turn first, then one of the running slots:
			// every command takes them in that order, so none waits for a
			// turn while holding a slot another needs.
			select {
			case g.running <- struct{}{}:
			case <-stop:
				<-turn
				return
			case <-ctx.Done():
				<-turn
				return
			}
			g.gated.Add(1)
			var released sync.Once
			release := func() { released.Do(func() { <-g.running; <-turn }) }
			requestID := int32(binary.LittleEndian.Uint32(msg[4:8]))
			mu.Lock()
			pending[requestID] = release
			mu.Unlock()
		}
		if _, err := server.Write(msg); err != nil {
			return
		}
	}
}

// answer is the gate's reply to GateCommand: an OP_MSG whose body says what
// the gate serialises.
func (g *gate) answer(request []byte) []byte {
	body, err := bson.Marshal(bson.D{{Key: "gate", Value: mongostore.GateName}, {Key: "ok", Value: 1.0}})
	if err != nil {
		panic(fmt.Sprintf("ferretserver: encode the gate's answer: %v", err)) // a constant document always encodes
	}
	msg := make([]byte, headerLen+4+1+len(body))
	binary.LittleEndian.PutUint32(msg[0:4], uint32(len(msg)))
	binary.LittleEndian.PutUint32(msg[4:8], uint32(g.nextID.Add(1)))
	copy(msg[8:12], request[4:8]) // responseTo: the request's id
	binary.LittleEndian.PutUint32(msg[12:16], opMsg)
	// flagBits stay 0; then one body section.
	msg[20] = sectionBody
	copy(msg[21:], body)
	return msg
}

// readMessage reads one whole wire message: its header and body.
func readMessage(r io.Reader) ([]byte, error) {
	var header [headerLen]byte
	if _, err := io.ReadFull(r, header[:]); err != nil {
		return nil, err
	}
	n := int(int32(binary.LittleEndian.Uint32(header[0:4])))
	if n < headerLen || n > maxMessageLen {
		return nil, fmt.Errorf("a wire message of %d bytes is malformed", n)
	}
	msg := make([]byte, n)
	copy(msg, header[:])
	if _, err := io.ReadFull(r, msg[headerLen:]); err != nil {
		return nil, err
	}
	return msg, nil
}

// inspect returns, for an OP_MSG command, its name in lower case, the
// "db.collection" it names (empty when its first field is not a string)
// and its flag bits. ok is false for other messages (the legacy OP_QUERY of
// a handshake, for one), which pass ungated.
func inspect(msg []byte) (cmd, key string, flags uint32, ok bool) {
	if len(msg) < headerLen+5 || binary.LittleEndian.Uint32(msg[12:16]) != opMsg {
		return "", "", 0, false
	}
	flags = binary.LittleEndian.Uint32(msg[16:20])
	end := len(msg)
	if flags&flagChecksum != 0 {
		end -= 4
	}
	for i := headerLen + 4; i < end; {
		kind := msg[i]
		i++
		if i+4 > end {
			return "", "", 0, false
		}
		size := int(int32(binary.LittleEndian.Uint32(msg[i : i+4])))
		if size < 5 || i+size > end {
			return "", "", 0, false
		}
		switch kind {
		case sectionBody:
			doc := bson.Raw(msg[i : i+size])
			first, err := doc.IndexErr(0)
			if err != nil {
				return "", "", 0, false
			}
			cmd = strings.ToLower(first.Key())
			if coll, isString := first.Value().StringValueOK(); isString {
				db, _ := doc.Lookup("$db").StringValueOK()
				key = db + "." + coll
			}
			return cmd, key, flags, true
		case sectionSequence:
			// A document sequence (the documents of an insert or the
			// statements of an update); the command is in the body.
		default:
			return "", "", 0, false
		}
		i += size
	}
	return "", "", 0, false
}
