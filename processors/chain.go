package processors

import "context"

// This file is the one place that orders the runner's policies. Every
// delivery goes through them, whether its Handler ran on its own or a
// BatchFunc handled it with others.
//
// Outermost first:
//
//	observe        Runner.Observe (metrics) sees the decided outcome
//	recordOutcome  the audit row, written before the delivery settles
//	deadLetter     a terminal failure goes to dlq.<processor>
//	retry          what the result means: backoff, RetryAfter, MaxDeliver
//	recoverPanics  a panic is a permanent failure        (Handler only)
//	Runner.Middleware, outermost first                   (Handler only)
//	Processor.Handler
//
// After the chain, the runner settles the delivery (ack, nak with the
// delay, term) by the verdict the policies reached. A tracing middleware
// belongs outermost in policies, so its span covers the dead letter and the
// outcome too.

// policies are the runner's middleware, outermost first, with rec storing
// the outcomes.
func (w *worker) policies(rec OutcomeRecorder) []Middleware {
	return []Middleware{
		observe(w.p.Name, w.r.Observe),
		recordOutcome(w.p.Name, rec, w.log),
		deadLetter(dlq{js: w.r.JS, processor: w.p.Name, durable: w.p.Durable}, w.backoff, w.log),
		retry(w.p.MaxDeliver, w.backoff, w.log),
	}
}

// handlerChain is what one delivery handled on its own runs through.
func (w *worker) handlerChain() HandlerFunc {
	mws := append(w.policies(w.r.Outcomes), recoverPanics(w.log))
	return wrap(w.p.Handler, append(mws, w.r.Middleware...)...)
}

// batchChain is what a message a BatchFunc handled runs through: the same
// policies around the result the batch gave it (the BatchFunc recovers its
// own panics: see safeBatch).
func (w *worker) batchChain(rec OutcomeRecorder, result error) HandlerFunc {
	return wrap(func(context.Context, *Message) error { return result }, w.policies(rec)...)
}

// wrap applies mws to h, the first outermost.
func wrap(h HandlerFunc, mws ...Middleware) HandlerFunc {
	for i := len(mws) - 1; i >= 0; i-- {
		h = mws[i](h)
	}
	return h
}
