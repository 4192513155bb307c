// Package verify checks webhook request signatures and credentials over the raw
// body bytes, before anything is parsed or published.
//
// Every verifier compares in constant time, fails closed (no secret or an unknown
// scheme is an error, never a pass) and returns a *Error whose Reason is a stable
// code for JSON error bodies and metrics:
//
//	missing_signature  no signature/credentials header          401
//	bad_signature      garbled, or matches no configured secret 401
//	stale_timestamp    outside the tolerance, old or future     401
//	bad_timestamp      timestamp missing or not unix seconds    401
//	bad_credentials    wrong or garbled token / basic pair      401
//	bad_payload        signed, but not a usable event (Stripe)  400
//	misconfigured      no secret / unknown scheme               500 (Reason.Status)
//
// Per-webhook routes build a Verifier from a stored Config with New; the global
// routes call VerifyStripe, VerifyFacebook (+ VerifyFacebookChallenge) and
// VerifyMailerLite. The package has no HTTP server code.
package verify
