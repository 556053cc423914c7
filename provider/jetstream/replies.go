package jetstream

import (
	"context"
	"strings"
	"sync"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nuid"
)

// replies routes the answers of batched direct gets, which come as many messages to one
// reply subject, from a single wildcard subscription ("<inbox>.*") to the request they belong
// to. A subscription per request would cost more than the request itself: nats.go gives each
// new subscription a channel of 64k entries.
type replies struct {
	nc     *nats.Conn
	mu     sync.Mutex
	prefix string // "<inbox>.", once subscribed
	sub    *nats.Subscription
	open   map[string]*replyQueue
}

// replyQueue holds the messages that arrived for one request, until it reads them.
type replyQueue struct {
	r       *replies
	token   string
	subject string
	mu      sync.Mutex
	msgs    []*nats.Msg
	ready   chan struct{} // capacity 1: a pending wake-up
}

// start returns a queue for the messages sent to its subject; close must be called when done.
func (r *replies) start() (*replyQueue, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.sub == nil || !r.sub.IsValid() {
		prefix := r.nc.NewInbox() + "."
		sub, err := r.nc.Subscribe(prefix+"*", r.deliver)
		if err != nil {
			return nil, err
		}
		// Each request reads its own answers as they come; the queues hold what arrives
		// meanwhile, bounded by the batches the requests asked for.
		if err := sub.SetPendingLimits(-1, -1); err != nil {
			_ = sub.Unsubscribe()
			return nil, err
		}
		r.prefix, r.sub, r.open = prefix, sub, map[string]*replyQueue{}
	}
	q := &replyQueue{r: r, token: nuid.Next(), ready: make(chan struct{}, 1)}
	q.subject = r.prefix + q.token
	r.open[q.token] = q
	return q, nil
}

func (r *replies) deliver(m *nats.Msg) {
	r.mu.Lock()
	q := r.open[strings.TrimPrefix(m.Subject, r.prefix)]
	r.mu.Unlock()
	if q == nil {
		return // for a request that has given up
	}
	q.mu.Lock()
	q.msgs = append(q.msgs, m)
	q.mu.Unlock()
	select {
	case q.ready <- struct{}{}:
	default:
	}
}

// next returns the next message sent to the queue's subject, waiting for it until ctx ends.
func (q *replyQueue) next(ctx context.Context) (*nats.Msg, error) {
	for {
		q.mu.Lock()
		if len(q.msgs) > 0 {
			m := q.msgs[0]
			q.msgs[0] = nil
			q.msgs = q.msgs[1:]
			q.mu.Unlock()
			return m, nil
		}
		q.mu.Unlock()
		select {
		case <-q.ready:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

// close stops routing messages to the queue.
func (q *replyQueue) close() {
	q.r.mu.Lock()
	delete(q.r.open, q.token)
	q.r.mu.Unlock()
}

// stop removes the subscription.
func (r *replies) stop() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.sub != nil {
		_ = r.sub.Unsubscribe()
		r.sub = nil
	}
}
