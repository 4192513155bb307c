package processors

import (
	"context"
	"strconv"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/hookstream/hookstream/internal/textcut"
	"github.com/hookstream/hookstream/streams"
)

// dlq is where one processor's dead letters go.
type dlq struct {
	js        jetstream.JetStream
	processor string
	durable   string
}

// publish writes the original message to dlq.<processor> with what went
// wrong. Its Nats-Msg-Id names the delivery (durable, stream, seq), so a dead
// letter written again after a lost Term is deduplicated. The delivery is
// terminated only once this succeeded.
func (q dlq) publish(m *Message, d *delivery) error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	dm := nats.NewMsg(streams.DLQSubject(q.processor))
	dm.Data = m.Data
	for k, v := range m.Header {
		if k == streams.HdrMsgID {
			continue
		}
		dm.Header[k] = v
	}
	dm.Header.Set(streams.HdrMsgID, "dlq:"+q.durable+":"+m.Stream+":"+strconv.FormatUint(m.StreamSeq, 10))
	dm.Header.Set(streams.HdrDLQEventID, m.EventID)
	dm.Header.Set(streams.HdrDLQProcessor, q.processor)
	dm.Header.Set(streams.HdrDLQSubject, m.Subject)
	dm.Header.Set(streams.HdrDLQStream, m.Stream)
	dm.Header.Set(streams.HdrDLQSeq, strconv.FormatUint(m.StreamSeq, 10))
	dm.Header.Set(streams.HdrDLQError, textcut.Bytes(d.err.Error(), 4000))
	dm.Header.Set(streams.HdrDLQAttempts, strconv.Itoa(m.Attempt))
	dm.Header.Set(streams.HdrDLQStatus, d.status)
	dm.Header.Set(streams.HdrDLQAt, time.Now().UTC().Format(time.RFC3339Nano))
	_, err := q.js.PublishMsg(ctx, dm)
	return err
}
