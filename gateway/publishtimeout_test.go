package gateway_test

import (
	"context"
	"errors"
	"strconv"
	"testing"
	"time"

	"github.com/hookstream/hookstream/gateway"
	"github.com/hookstream/hookstream/streams"
	"github.com/hookstream/hookstream/streams/streamstest"
)

// The gateway bounds the wait for a PubAck through streams.Publisher's
// PublishTimeout (no derived context per request).
var _ gateway.TimeoutPublisher = (*streams.Publisher)(nil)

// PublishTimeout acknowledges like Publish (its pooled timer reused across
// calls), and gives up with ErrPublish once d passes without a PubAck.
func TestPublisher_PublishTimeout(t *testing.T) {
	s := streamstest.RunServer(t)
	_, js := streamstest.Connect(t, s)
	p := &streams.Publisher{JS: js}
	ctx := context.Background()
	for i := range 50 {
		a, err := p.PublishTimeout(ctx, streams.NewMsg("ingest.webhook.w1", "id-"+strconv.Itoa(i%25), []byte("{}")), 5*time.Second)
		if err != nil || a.Duplicate != (i >= 25) || a.Sequence != uint64(i%25+1) {
			t.Fatalf("publish %d: %+v %v", i, a, err)
		}
	}
	if _, err := p.PublishTimeout(ctx, streams.NewMsg("ingest.webhook.w1", "", nil), time.Second); !errors.Is(err, streams.ErrPublish) {
		t.Fatalf("publish without msg id: %v", err)
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	s.Shutdown()
	s.WaitForShutdown()
	if _, err := p.PublishTimeout(cctx, streams.NewMsg("ingest.webhook.w1", "c", nil), time.Minute); !errors.Is(err, streams.ErrPublish) {
		t.Fatalf("publish with a cancelled context = %v, want ErrPublish", err)
	}
	start := time.Now()
	_, err := p.PublishTimeout(ctx, streams.NewMsg("ingest.webhook.w1", "x", nil), 300*time.Millisecond)
	if !errors.Is(err, streams.ErrPublish) {
		t.Fatalf("publish with server down = %v, want ErrPublish", err)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Fatalf("gave up after %v, want about 300ms", d)
	}
}
