package worker

import (
	"fmt"
	"strings"
	"time"

	"github.com/revokd/revokd/queue"
	"github.com/revokd/revokd/revocation"
)

// The texts below are the desk's first answers, French then English. The
// notify package will own templates; until then these are what the outbox
// holds, and what notify will send.

func replySubject(subject string) string {
	if subject == "" {
		return "Demande de révocation / Revocation request"
	}
	if strings.HasPrefix(strings.ToLower(subject), "re:") {
		return subject
	}
	return "Re: " + subject
}

func acknowledgement(to, subject string, received time.Time) queue.OutboxMessage {
	when := received.UTC().Format("2006-01-02 15:04 UTC")
	return queue.OutboxMessage{
		Kind: "acknowledgement", To: to, Subject: replySubject(subject),
		Body: fmt.Sprintf("Bonjour,\n\nNous avons bien reçu votre message du %s. Il a été archivé et examiné ; "+
			"le résultat suit.\n\n--\nHello,\n\nWe received your message of %s. It has been archived and examined; "+
			"the result follows.\n", when, when),
	}
}

func result(to, subject string, reqs []queue.RequestOutcome) queue.OutboxMessage {
	var fr, en strings.Builder
	for _, r := range reqs {
		name := r.AttachmentName
		if name == "" {
			name = "PDF"
		}
		switch {
		case r.State == revocation.StateAccepted:
			fmt.Fprintf(&fr, "- %s : demande acceptée ; la révocation du certificat %s est programmée.\n", name, r.Serial)
			fmt.Fprintf(&en, "- %s: request accepted; certificate %s will be revoked.\n", name, r.Serial)
		default:
			fmt.Fprintf(&fr, "- %s : demande refusée (%s).\n", name, r.ReasonCode)
			fmt.Fprintf(&en, "- %s: request refused (%s): %s\n", name, r.ReasonCode, r.Reason)
		}
	}
	return queue.OutboxMessage{
		Kind: "result", To: to, Subject: replySubject(subject),
		Body: "Bonjour,\n\nRésultat de l'examen de votre demande :\n" + fr.String() +
			"\nUn opérateur examine les demandes refusées.\n\n--\nHello,\n\nThe result of your request:\n" + en.String() +
			"\nAn operator reviews refused requests.\n",
	}
}

func notARequestReply(to, subject, why string) queue.OutboxMessage {
	return queue.OutboxMessage{
		Kind: "result", To: to, Subject: replySubject(subject),
		Body: "Bonjour,\n\nVotre message ne contient pas de demande de révocation exploitable (" + why + "). " +
			"Joignez le formulaire de demande signé au format PDF.\n\n--\nHello,\n\nYour message holds no revocation " +
			"request we can process (" + why + "). Attach the signed request form as a PDF.\n",
	}
}
