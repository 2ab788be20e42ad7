package main

import (
	"crypto/rand"
	"encoding/base32"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"golang.org/x/crypto/bcrypt"

	"hubd/hub"
	"hubd/hub/yandex"
)

// residentsBucket is the store bucket of the homes' resident logins:
// home id -> residentLogin as JSON. Passwords are kept as bcrypt hashes.
const residentsBucket = "homes"

// residentLogin is the account-linking login of one home's residents.
type residentLogin struct {
	Login string    `json:"login"`
	Hash  string    `json:"hash"`
	SetAt time.Time `json:"set_at"`
	SetBy string    `json:"set_by"`
}

// residents gives homes their residents' logins and checks homes out. The
// admin socket (`hubd home ...`) and the status page both go through it;
// one lock orders its changes and config reloads.
type residents struct {
	m   *Main
	mu  sync.Mutex
	cfg *Config // the config whose users the API has; set by apply
}

func (r *residents) logins() (map[string]residentLogin, error) {
	all, err := r.m.DB.Bucket(residentsBucket).All()
	if err != nil {
		return nil, fmt.Errorf("homes: read resident logins: %w", err)
	}
	out := make(map[string]residentLogin, len(all))
	for home, v := range all {
		var l residentLogin
		if err := json.Unmarshal([]byte(v), &l); err != nil || l.Login == "" || l.Hash == "" {
			r.m.Log.Warn("homes: unreadable resident login ignored", "home", home)
			continue
		}
		out[home] = l
	}
	return out, nil
}

// users returns the API's users: the configured ones and one per home
// with a resident login, scoped to that home. Logins of homes that are no
// longer in c's site are left out.
func (r *residents) users(c *Config) ([]yandex.User, error) {
	out := yandexUsers(c)
	logins, err := r.logins()
	if err != nil {
		return nil, err
	}
	site := c.HubSite()
	homes := make([]string, 0, len(logins))
	for h := range logins {
		homes = append(homes, h)
	}
	slices.Sort(homes)
	for _, home := range homes {
		l := logins[home]
		taken := slices.ContainsFunc(out, func(u yandex.User) bool { return u.ID == l.Login })
		if site.CheckScope(hub.Scope{Homes: []string{home}}) != nil || taken {
			r.m.Log.Warn("homes: resident login of a home that is not in the site, or named like a configured user, is off", "home", home, "login", l.Login)
			continue
		}
		out = append(out, yandex.User{ID: l.Login, PasswordHash: l.Hash, Scope: hub.Scope{Homes: []string{home}}})
	}
	return out, nil
}

// apply gives the API the users of c and the stored logins (a reload);
// later changes of logins keep c's users.
func (r *residents) apply(c *Config) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if err := r.applyLocked(c); err != nil {
		return err
	}
	r.cfg = c
	return nil
}

func (r *residents) applyLocked(c *Config) error {
	users, err := r.users(c)
	if err != nil {
		return err
	}
	return r.m.Yandex.SetUsers(users)
}

// List returns every home of the site with its login's name, never a
// secret.
func (r *residents) List() ([]hub.HomeStatus, error) {
	logins, err := r.logins()
	if err != nil {
		return nil, err
	}
	site := r.m.Hub.Site()
	var out []hub.HomeStatus
	for _, n := range site.Homes() {
		st := hub.HomeStatus{ID: n.ID, Name: n.Name, Devices: site.DevicesUnder(n.ID)}
		if l, ok := logins[n.ID]; ok {
			st.Login, st.LoginSetAt, st.LoginSetBy = l.Login, l.SetAt, l.SetBy
		}
		out = append(out, st)
	}
	return out, nil
}

// SetLogin gives a home a new resident login, ending the old one and every
// account linked with it (the platform is told to drop its devices). The
// password is in the result only.
func (r *residents) SetLogin(home, by string) (hub.HomeCredentials, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	cr, old, linked, err := r.rotateLocked(home, by)
	if err != nil {
		return cr, err
	}
	if old != "" {
		err := r.m.Yandex.RevokeUser(old)
		r.tellPlatform(linked, []string{old})
		if err != nil {
			return cr, err
		}
	}
	r.event(fmt.Sprintf("resident login of %s set to %s by %s", home, cr.Login, by))
	return cr, nil
}

// CheckOut ends a home's tenancy: its login is rotated, every token of its
// residents (the old login's accounts and configured users of the home)
// is revoked, and those users are sent a discovery callback so the
// platform drops the devices. It is logged with who did it.
func (r *residents) CheckOut(home, by string) (hub.HomeCredentials, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if err := r.m.Hub.Site().CheckScope(hub.Scope{Homes: []string{home}}); err != nil {
		return hub.HomeCredentials{}, err
	}
	// Everyone of the home is revoked before the new login exists: it is
	// scoped to the home too, and must not be revoked with the others.
	linked := r.linked()
	revoked, rerr := r.m.Yandex.RevokeHome(home)
	cr, old, _, err := r.rotateLocked(home, by)
	if err != nil {
		return cr, errors.Join(err, rerr)
	}
	err = rerr
	if old != "" {
		err = errors.Join(err, r.m.Yandex.RevokeUser(old))
		revoked = append(revoked, old)
	}
	revoked = slices.DeleteFunc(revoked, func(u string) bool { return u == cr.Login })
	slices.Sort(revoked)
	cr.Revoked = slices.Compact(revoked)
	r.tellPlatform(linked, cr.Revoked)
	msg := fmt.Sprintf("check-out of %s by %s: %d accounts revoked (%s), resident login rotated", home, by, len(cr.Revoked), strings.Join(cr.Revoked, ", "))
	if err != nil {
		r.event(msg + "; persisting a revocation failed: " + err.Error())
		return cr, err
	}
	r.event(msg)
	return cr, nil
}

// linked returns the users linked now (before a change ends some).
func (r *residents) linked() map[string]bool {
	out := map[string]bool{}
	for _, rc := range r.m.Yandex.Recipients() {
		out[rc.UserID] = true
	}
	return out
}

// tellPlatform owes a discovery callback to those of users that were
// linked, so the platform drops the devices they lost.
func (r *residents) tellPlatform(linked map[string]bool, users []string) {
	if r.m.Notifier == nil {
		return
	}
	for _, u := range users {
		if linked[u] {
			r.m.Notifier.Discover(u)
		}
	}
}

func (r *residents) event(text string) {
	r.m.Log.Info("homes: " + text)
	r.m.Hub.Log("info", "homes", "", text)
}

// rotateLocked stores a new login for home and gives it to the API. It
// returns the new credentials, the old login's name and the users that
// were linked before.
func (r *residents) rotateLocked(home, by string) (cr hub.HomeCredentials, old string, linked map[string]bool, err error) {
	if err := r.m.Hub.Site().CheckScope(hub.Scope{Homes: []string{home}}); err != nil {
		return cr, "", nil, err
	}
	logins, err := r.logins()
	if err != nil {
		return cr, "", nil, err
	}
	linked = r.linked()
	next := hub.HomeCredentials{Home: home, Login: home + "-" + randomWord(4), Password: randomWord(12)}
	hash, err := bcrypt.GenerateFromPassword([]byte(next.Password), bcrypt.DefaultCost)
	if err != nil {
		return cr, "", nil, fmt.Errorf("homes: hash password: %w", err)
	}
	v, _ := json.Marshal(residentLogin{Login: next.Login, Hash: string(hash), SetAt: r.m.Hub.Now().UTC(), SetBy: by})
	// Replacing a login takes the old one away: the ledger's generation
	// moves, so an older copy of the store put back is found out.
	if err := (guardedKV{r.m.DB.Bucket(residentsBucket), r.m.Ledger}).Put(home, string(v)); err != nil {
		return cr, "", nil, fmt.Errorf("homes: store resident login: %w", err)
	}
	if err := r.applyLocked(r.cfg); err != nil {
		return cr, "", nil, err
	}
	return next, logins[home].Login, linked, nil
}

// randomWord returns n random bytes in lower-case base32: 1.6 characters
// a byte, no look-alike symbols, easy to type on a phone.
func randomWord(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return strings.ToLower(base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(b))
}
