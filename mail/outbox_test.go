package mail

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/emporium-shop/emporium"
)

// lockedBuffer is a bytes.Buffer that a logger may write from several
// goroutines.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

// records returns the JSON log records written so far.
func (b *lockedBuffer) records(t *testing.T) []map[string]any {
	t.Helper()
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []map[string]any
	for _, line := range bytes.Split(bytes.TrimSpace(b.buf.Bytes()), []byte("\n")) {
		if len(line) == 0 {
			continue
		}
		var r map[string]any
		require.NoError(t, json.Unmarshal(line, &r))
		out = append(out, r)
	}
	return out
}

func TestOutboxLogsTheLinks(t *testing.T) {
	var logs lockedBuffer
	o := NewOutbox(slog.New(slog.NewJSONHandler(&logs, nil)), 10)
	link, err := Link("http://localhost:8080", "/verify-email", "tok_123")
	require.NoError(t, err)
	m := VerifyEmail("Ann <ann@example.com>", "Ann", link)
	m.Text += "\nSee also https://shop.example/help. Or (https://shop.example/faq)."
	require.NoError(t, o.Send(testContext(t), m))

	records := logs.records(t)
	require.Len(t, records, 1)
	r := records[0]
	assert.Equal(t, "INFO", r["level"])
	assert.Equal(t, "ann@example.com", r["to"])
	assert.Equal(t, "Verify your email address", r["subject"])
	assert.Equal(t, []any{link, "https://shop.example/help", "https://shop.example/faq"}, r["links"])
	assert.NotContains(t, r, "text", "the body is not logged")
	assert.NotContains(t, r, "html", "the body is not logged")
}

func TestOutboxKeepsTheLastMessages(t *testing.T) {
	o := NewOutbox(nil, 3)
	ctx := testContext(t)
	for i := range 5 {
		require.NoError(t, o.Send(ctx, Message{To: fmt.Sprintf("u%d@example.com", i%2), Subject: fmt.Sprint(i), Text: "t"}))
	}
	var subjects []string
	for _, m := range o.Messages() {
		subjects = append(subjects, m.Subject)
	}
	assert.Equal(t, []string{"2", "3", "4"}, subjects, "oldest first, the first two dropped")

	last, ok := o.Last("U0@example.com")
	require.True(t, ok)
	assert.Equal(t, "4", last.Subject)
	last, ok = o.Last("Someone <u1@example.com>")
	require.True(t, ok)
	assert.Equal(t, "3", last.Subject)
	_, ok = o.Last("u9@example.com")
	assert.False(t, ok)

	// Messages returns a copy.
	o.Messages()[0].Subject = "changed"
	assert.Equal(t, "2", o.Messages()[0].Subject)
}

func TestOutboxDefaultKeep(t *testing.T) {
	o := NewOutbox(nil, 0)
	ctx := testContext(t)
	for i := range DefaultOutboxKeep + 5 {
		require.NoError(t, o.Send(ctx, Message{To: "a@example.com", Subject: fmt.Sprint(i), Text: "t"}))
	}
	msgs := o.Messages()
	require.Len(t, msgs, DefaultOutboxKeep)
	assert.Equal(t, "5", msgs[0].Subject)
}

func TestOutboxWaitBlocksUntilAMessageArrives(t *testing.T) {
	o := NewOutbox(nil, 10)
	ctx := testContext(t)
	type result struct {
		m   Message
		err error
	}
	got := make(chan result, 1)
	waiting := make(chan struct{})
	go func() {
		close(waiting)
		m, err := o.Wait(ctx, "ann@example.com")
		got <- result{m, err}
	}()
	<-waiting
	// A message to someone else does not wake the waiter with the wrong
	// message.
	require.NoError(t, o.Send(ctx, Message{To: "bob@example.com", Subject: "for bob", Text: "t"}))
	require.NoError(t, o.Send(ctx, Message{To: "ann@example.com", Subject: "for ann", Text: "t"}))
	select {
	case r := <-got:
		require.NoError(t, r.err)
		assert.Equal(t, "for ann", r.m.Subject)
	case <-ctx.Done():
		t.Fatal("Wait did not return after the message arrived")
	}
}

func TestOutboxWaitEndsWithItsContext(t *testing.T) {
	o := NewOutbox(nil, 10)
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	_, err := o.Wait(ctx, "ann@example.com")
	require.ErrorIs(t, err, context.Canceled)
	assert.True(t, emporium.IsCode(err, emporium.ENOTFOUND))

	// A message already taken by Wait is not returned again.
	require.NoError(t, o.Send(testContext(t), Message{To: "ann@example.com", Subject: "once", Text: "t"}))
	m, err := o.Wait(testContext(t), "ann@example.com")
	require.NoError(t, err)
	assert.Equal(t, "once", m.Subject)
	_, err = o.Wait(ctx, "ann@example.com")
	require.ErrorIs(t, err, context.Canceled)
}

func TestLinks(t *testing.T) {
	text := "Open https://a.example/x?token=abc.\nOr http://b.example:8080/y, then \"https://c.example/z\" <https://d.example/>"
	assert.Equal(t, []string{
		"https://a.example/x?token=abc",
		"http://b.example:8080/y",
		"https://c.example/z",
		"https://d.example/",
	}, links(text))
	assert.Empty(t, links("no links here"))
}
