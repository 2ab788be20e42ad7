package yandex

import (
	"bytes"
	"html/template"
	"net/http"
	"strconv"
)

// pageData fills the login page.
type pageData struct {
	Form   bool // show the login form (else only the message)
	Action string
	Req    authRequest
	CSRF   string
	User   string
	Error  string
}

// loginPage is self-contained (no scripts, no fonts, no CDN) and fits a
// phone screen: the platform opens it in the Yandex app's web view.
var loginPage = template.Must(template.New("login").Parse(`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<title>Link your account - hubd</title>
<style>
*{box-sizing:border-box}
body{margin:0;min-height:100vh;display:flex;align-items:center;justify-content:center;
 background:#eef1f5;color:#1f2328;font:16px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif}
main{width:100%;max-width:24rem;margin:1rem;padding:1.5rem;background:#fff;border-radius:14px;
 box-shadow:0 2px 10px rgba(0,0,0,.12)}
h1{font-size:1.3rem;margin:0 0 .4rem}
p{margin:.4rem 0;color:#4b5563}
label{display:block;margin:1rem 0 .3rem;font-weight:600}
input{width:100%;font-size:1.05rem;padding:.7rem;border:1px solid #b8bec7;border-radius:9px}
input:focus{outline:2px solid #2563eb;border-color:#2563eb}
button{width:100%;margin-top:1.4rem;padding:.85rem;font-size:1.05rem;font-weight:600;color:#fff;
 background:#2563eb;border:0;border-radius:9px}
.err{margin:1rem 0 0;padding:.7rem;border-radius:9px;background:#fdecec;color:#9b1c1c}
@media (prefers-color-scheme:dark){body{background:#111418;color:#e6e8eb}main{background:#1b1f24}
 p{color:#a9b1bb}input{background:#111418;color:#e6e8eb;border-color:#3a424c}}
</style>
</head>
<body>
<main>
<h1>Link this building</h1>
<p>Log in with the account of this hub to let Yandex control its lamps and sockets.</p>
{{if .Error}}<p class="err" role="alert">{{.Error}}</p>{{end}}
{{if .Form}}<form method="post" action="{{.Action}}">
<input type="hidden" name="response_type" value="{{.Req.ResponseType}}">
<input type="hidden" name="client_id" value="{{.Req.ClientID}}">
<input type="hidden" name="redirect_uri" value="{{.Req.RedirectURI}}">
<input type="hidden" name="state" value="{{.Req.State}}">
<input type="hidden" name="scope" value="{{.Req.Scope}}">
<input type="hidden" name="csrf_token" value="{{.CSRF}}">
<label for="username">User id</label>
<input id="username" name="username" value="{{.User}}" autocomplete="username" autocapitalize="none" autocorrect="off" spellcheck="false" required>
<label for="password">Password</label>
<input id="password" name="password" type="password" autocomplete="current-password" required>
<button type="submit">Log in and link</button>
</form>{{end}}
</main>
</body>
</html>
`))

// page renders the login page (or an error page) with headers that keep
// it out of frames and caches.
func (o *oauthServer) page(w http.ResponseWriter, r *http.Request, status int, d pageData) int {
	var buf bytes.Buffer
	if err := loginPage.Execute(&buf, d); err != nil {
		o.log.Error("render login page", "err", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return http.StatusInternalServerError
	}
	hd := w.Header()
	hd.Set("Content-Type", "text/html; charset=utf-8")
	hd.Set("Content-Length", strconv.Itoa(buf.Len()))
	hd.Set("Cache-Control", "no-store")
	hd.Set("Content-Security-Policy", o.csp)
	hd.Set("X-Frame-Options", "DENY")
	hd.Set("X-Content-Type-Options", "nosniff")
	hd.Set("Referrer-Policy", "no-referrer")
	w.WriteHeader(status)
	if r.Method != http.MethodHead {
		_, _ = w.Write(buf.Bytes())
	}
	return status
}
