/**
 * What login-errors can find (seed 003 "Login 5xx o cookies"). A remediation in the targets file
 * names the causes it fixes from this list, so a typo is refused when the file loads. Pure.
 */
export const LOGIN_CAUSES = [
  'unreachable', // the login endpoint does not answer (refused, timeout, DNS)
  'login-5xx', // it answers 5xx to a login
  'cors', // a front-end origin is refused by the preflight
  'cookie-rejected', // browsers drop the session cookie (Domain, Secure, SameSite=None without Secure)
  'cookie-domain', // the cookie's Domain is not COOKIE_DOMAIN
  'cookie-samesite', // the front-end is cross-site and the cookie is not SameSite=None; Secure
  'cookie-insecure', // over HTTPS without Secure or HttpOnly
  'no-cookie', // a good login sets no session cookie
  'tls-expired',
  'tls-expiring',
  'tls-hostname',
  'tls-untrusted',
  'rate-limited', // the rate limiter refuses logins (429, RateLimitMiddleware lines)
  'auth-failures', // 401/403 over the threshold share of requests in the window
] as const;

export type LoginCause = (typeof LOGIN_CAUSES)[number];
