package erasure

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/hookstream/hookstream/streams"
)

// ingestSeq finds the INGEST sequence of the raw request with Nats-Msg-Id
// eventID (a request never processed has no outcome that records it).
func ingestSeq(ctx context.Context, js jetstream.JetStream, eventID string) (uint64, error) {
	return scanForID(ctx, js, streams.StreamIngest, ingestFilter(eventID), func(h map[string][]string) bool {
		v := h[streams.HdrMsgID]
		return len(v) > 0 && v[0] == eventID
	})
}

// ingestFilter narrows the scan by the event id's form.
func ingestFilter(eventID string) string {
	switch {
	case strings.HasPrefix(eventID, "wh:"):
		wh, _, _ := strings.Cut(strings.TrimPrefix(eventID, "wh:"), ":")
		if streams.ValidToken(wh, false) {
			return streams.IngestSubject(streams.SubjectIngestWebhook, wh)
		}
	case strings.HasPrefix(eventID, "stripe:"):
		return streams.SubjectIngestStripe + ".>"
	case strings.HasPrefix(eventID, "fb:"):
		return streams.SubjectIngestFacebook
	}
	return streams.SubjectIngestAll
}

// scanLimit bounds a scan for a message without a recorded sequence.
const scanLimit = 200_000

// scanForID walks a stream's headers (newest last) for the first message
// match accepts and returns its sequence.
func scanForID(ctx context.Context, js jetstream.JetStream, stream, filter string, match func(map[string][]string) bool) (uint64, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	c, err := js.OrderedConsumer(ctx, stream, jetstream.OrderedConsumerConfig{
		FilterSubjects: []string{filter}, HeadersOnly: true, DeliverPolicy: jetstream.DeliverAllPolicy})
	if err != nil {
		return 0, err
	}
	info, err := c.Info(ctx)
	if err != nil {
		return 0, err
	}
	if info.NumPending == 0 {
		return 0, ErrNotFound
	}
	for n := 0; n < scanLimit; {
		batch, err := c.Fetch(1000, jetstream.FetchMaxWait(2*time.Second))
		if err != nil {
			return 0, err
		}
		got := 0
		for m := range batch.Messages() {
			got++
			n++
			md, err := m.Metadata()
			if err != nil {
				continue
			}
			if match(m.Headers()) {
				return md.Sequence.Stream, nil
			}
			if md.NumPending == 0 {
				return 0, ErrNotFound
			}
		}
		if err := batch.Error(); err != nil && !errors.Is(err, jetstream.ErrNoMessages) {
			return 0, err
		}
		if got == 0 {
			return 0, ErrNotFound
		}
	}
	return 0, fmt.Errorf("not found in the last %d messages scanned", scanLimit)
}
