package streams_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/hookstream/hookstream/streams"
	"github.com/hookstream/hookstream/streams/streamstest"
)

func TestEnsure_IdempotentAndUpdates(t *testing.T) {
	s := streamstest.RunServer(t)
	_, js := streamstest.Connect(t, s) // first Ensure
	ctx := context.Background()
	cfg := streams.DefaultConfig()
	cfg.Duplicates = 2 * time.Minute
	if err := streams.Ensure(ctx, js, cfg); err != nil {
		t.Fatalf("second ensure: %v", err)
	}
	st, err := js.Stream(ctx, streams.StreamIngest)
	if err != nil {
		t.Fatal(err)
	}
	info, _ := st.Info(ctx)
	if info.Config.Duplicates != 2*time.Minute {
		t.Fatalf("duplicates window = %v, want updated 2m", info.Config.Duplicates)
	}
	if info.Config.Storage != jetstream.FileStorage || info.Config.Retention != jetstream.LimitsPolicy {
		t.Fatalf("ingest storage/retention = %v/%v", info.Config.Storage, info.Config.Retention)
	}
	if err := streams.Check(ctx, js); err != nil {
		t.Fatalf("check: %v", err)
	}
}

func TestPublisher_DedupAndAck(t *testing.T) {
	s := streamstest.RunServer(t)
	_, js := streamstest.Connect(t, s)
	p := &streams.Publisher{JS: js}
	ctx := context.Background()
	a1, err := p.Publish(ctx, streams.NewMsg("ingest.webhook.w1", "id-1", []byte("{}")))
	if err != nil || a1.Duplicate || a1.Sequence != 1 {
		t.Fatalf("first publish: %+v %v", a1, err)
	}
	a2, err := p.Publish(ctx, streams.NewMsg("ingest.webhook.w1", "id-1", []byte("{}")))
	if err != nil || !a2.Duplicate || a2.Sequence != 1 {
		t.Fatalf("duplicate publish: %+v %v", a2, err)
	}
	if n := streamstest.StreamMsgs(t, js, streams.StreamIngest); n != 1 {
		t.Fatalf("stream has %d msgs, want 1", n)
	}
	if _, err := p.Publish(ctx, streams.NewMsg("ingest.webhook.w1", "", nil)); !errors.Is(err, streams.ErrPublish) {
		t.Fatalf("publish without msg id: %v", err)
	}
}

func TestPublisher_ServerDownFails(t *testing.T) {
	s := streamstest.RunServer(t)
	_, js := streamstest.Connect(t, s)
	p := &streams.Publisher{JS: js}
	s.Shutdown()
	s.WaitForShutdown()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	if _, err := p.Publish(ctx, streams.NewMsg("ingest.webhook.w1", "x", nil)); !errors.Is(err, streams.ErrPublish) {
		t.Fatalf("publish with server down = %v, want ErrPublish", err)
	}
}

func TestServer_RestartKeepsMessages(t *testing.T) {
	dir := t.TempDir()
	s := streamstest.RunServerIn(t, dir)
	_, js := streamstest.Connect(t, s)
	p := &streams.Publisher{JS: js}
	for i := 0; i < 10; i++ {
		if _, err := p.Publish(context.Background(), streams.NewMsg("ingest.form.contact", string(rune('a'+i)), []byte("x"))); err != nil {
			t.Fatal(err)
		}
	}
	s.Shutdown()
	s.WaitForShutdown()
	s2 := streamstest.RunServerIn(t, dir)
	_, js2 := streamstest.Connect(t, s2)
	if n := streamstest.StreamMsgs(t, js2, streams.StreamIngest); n != 10 {
		t.Fatalf("after restart INGEST has %d msgs, want 10", n)
	}
}

func TestValidToken(t *testing.T) {
	cases := []struct {
		in   string
		dots bool
		want bool
	}{
		{"payment_intent.succeeded", true, true},
		{"payment_intent.succeeded", false, false},
		{"wh_abc-123", false, true},
		{"", false, false},
		{"a.*", true, false},
		{"a.>", true, false},
		{"a..b", true, false},
		{".a", true, false},
		{"a.", true, false},
		{"a b", false, false},
		{"../etc", true, false},
	}
	for _, c := range cases {
		if got := streams.ValidToken(c.in, c.dots); got != c.want {
			t.Errorf("ValidToken(%q,%v) = %v, want %v", c.in, c.dots, got, c.want)
		}
	}
}
