package pgtest

import (
	"net/url"
	"strings"
)

// withDB points a connection string (URL or keyword/value form) at database db.
func withDB(dsn, db string) string {
	if strings.Contains(dsn, "://") {
		u, err := url.Parse(dsn)
		if err == nil {
			u.Path = "/" + db
			return u.String()
		}
	}
	return dsn + " dbname=" + db
}
