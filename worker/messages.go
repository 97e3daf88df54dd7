package worker

import (
	"fmt"
	"strings"
	"time"

	"github.com/revokd/revokd/authorize"
	"github.com/revokd/revokd/queue"
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

// answer is what the sender is told of one PDF: never the operator's
// detail, which names registry facts (SIRENs looked up, other serials).
type answer struct {
	name   string
	fr, en string
}

func notVerifiedAnswer(name, code string) answer {
	return answer{
		name: name,
		fr:   fmt.Sprintf("la signature du formulaire n'a pas pu être validée (%s).", code),
		en:   fmt.Sprintf("the form's signature could not be validated (%s).", code),
	}
}

func decisionAnswer(name, serial string, d authorize.Decision) answer {
	switch {
	case d.Accepted && d.AlreadyRevoked:
		return answer{name: name,
			fr: fmt.Sprintf("le certificat %s est déjà révoqué ; il n'y a rien d'autre à faire.", serial),
			en: fmt.Sprintf("certificate %s is already revoked; nothing more is needed.", serial)}
	case d.Accepted:
		return answer{name: name,
			fr: fmt.Sprintf("demande acceptée ; la révocation du certificat %s est programmée.", serial),
			en: fmt.Sprintf("request accepted; certificate %s will be revoked.", serial)}
	}
	fr := d.Message
	if fr == "" {
		fr = "la demande ne peut pas être acceptée."
	}
	return answer{name: name, fr: fmt.Sprintf("%s (%s)", strings.TrimSuffix(fr, "."), d.Code),
		en: fmt.Sprintf("the request cannot be accepted (%s).", d.Code)}
}

func result(to, subject string, answers []answer) queue.OutboxMessage {
	var fr, en strings.Builder
	for _, a := range answers {
		name := a.name
		if name == "" {
			name = "PDF"
		}
		fmt.Fprintf(&fr, "- %s : %s\n", name, a.fr)
		fmt.Fprintf(&en, "- %s: %s\n", name, a.en)
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
