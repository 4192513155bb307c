package live_test

import (
	"testing"

	"github.com/hookstream/hookstream/processors/notify"
	"github.com/hookstream/hookstream/streams"
)

// The feed reads the subject the notify processor publishes on.
func TestSubjectIsNotifysLiveSubject(t *testing.T) {
	if streams.SubjectNotificationLive != notify.LiveSubject {
		t.Errorf("streams.SubjectNotificationLive %q, notify.LiveSubject %q", streams.SubjectNotificationLive, notify.LiveSubject)
	}
}
