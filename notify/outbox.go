package notify

import (
	"encoding/json"
	"time"

	"github.com/revokd/revokd/authorize"
	"github.com/revokd/revokd/queue"
)

// The functions below build the outbox rows of each kind of mail: the
// facts, never the words, which are rendered when the mail is sent. The
// caller commits them with the state change they announce (the worker
// in queue.Outcome, the review desk with queue.EnqueueTx).

func outboxMessage(to string, m Message) queue.OutboxMessage {
	data, err := json.Marshal(m)
	if err != nil {
		// Message holds strings, numbers and times only.
		panic("notify: encoding a message: " + err.Error())
	}
	return queue.OutboxMessage{Kind: string(m.Kind), To: to, Data: data}
}

// Acknowledgement is the mail that tells to that its request mail,
// received at receivedAt, is recorded, with its reference number.
func Acknowledgement(to string, receivedAt time.Time) queue.OutboxMessage {
	return outboxMessage(to, Message{Kind: KindAcknowledgement, ReceivedAt: receivedAt.UTC()})
}

// Result is the mail that tells to the outcome of each PDF of its request
// mail, one item per request in the order they are recorded. The facts'
// registry values are dropped: the sender never learns them.
func Result(to string, items []Item) queue.OutboxMessage {
	clean := make([]Item, len(items))
	for i, it := range items {
		it.Facts = senderFacts(it.Facts)
		clean[i] = it
	}
	return outboxMessage(to, Message{Kind: KindResult, Items: clean})
}

// senderFacts strips what only operators may see.
func senderFacts(facts []authorize.Fact) []authorize.Fact {
	if facts == nil {
		return nil
	}
	out := make([]authorize.Fact, len(facts))
	for i, f := range facts {
		f.Registry = ""
		out[i] = f
	}
	return out
}

// ResultItem is the item of a result for one PDF: its file name, its code
// and the certificate's serial, with the decision's facts when the
// verification passed (d may be nil).
func ResultItem(fileName string, code authorize.Code, serial string, d *authorize.Decision) Item {
	it := Item{FileName: fileName, Code: code, Serial: serial}
	if d != nil {
		it.Facts = senderFacts(d.Facts)
	}
	return it
}

// NotARequest is the mail that tells to how to make a request, when its
// mail held none. The sender sends it at most once a day to an address
// (the others are suppressed).
func NotARequest(to string, why NotRequestWhy) queue.OutboxMessage {
	return outboxMessage(to, Message{Kind: KindNotARequest, Why: why})
}

// OverSize is the not-a-request mail for a mail over the mailbox's size
// cap: send the form alone, as a PDF under maxFormMB MiB.
func OverSize(to string, maxFormMB int64) queue.OutboxMessage {
	return outboxMessage(to, Message{Kind: KindNotARequest, Why: WhyOverSize, MaxFormMB: maxFormMB})
}

// Dismissed is the mail that tells the sender of request r (its mail's
// sender) that an operator closed it; note, the operator's words to the
// sender, may be empty. The review desk commits it with the dismissal.
func Dismissed(r queue.RequestSummary, note string) queue.OutboxMessage {
	m := outboxMessage(r.Sender, Message{Kind: KindDismissed, Note: note})
	m.MailID, m.RequestID = r.MailID, r.ID
	return m
}

// NewFormAsked is the mail that asks the sender of request r for a new
// form; note says what to correct and may be empty. The review desk
// commits it with its action.
func NewFormAsked(r queue.RequestSummary, note string) queue.OutboxMessage {
	m := outboxMessage(r.Sender, Message{Kind: KindNewFormAsked, Note: note})
	m.MailID, m.RequestID = r.MailID, r.ID
	return m
}

// OperatorAlert is the digest mail to one operator address.
func OperatorAlert(to string, d Digest) queue.OutboxMessage {
	return outboxMessage(to, Message{Kind: KindOperatorAlert, Digest: &d})
}
