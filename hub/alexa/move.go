package alexa

import (
	"context"
	"errors"
)

// A node that moves to another parent gets a new object: the API cannot
// move a unit (PUT changes only the name, units doc line 384). The move is
// planned whole: create the new object, discovery on it (its endpoints are
// the old object's devices), then delete the old object, which the API
// refuses while endpoints are associated with it (units doc line 110). The
// delete waits (OpWait) for this sync's discovery and is tried once more
// after it; when the old object still has endpoints with no discovery left
// to move them, the next plan says what a person must do (OpSkip).

// dropDiscovery forgets the discovery records of a node that gets a new
// object: they belong to the old one, and the new one needs its own
// session.
func (a *applier) dropDiscovery(node string) error {
	return a.del(kvDevices+node, kvSession+node, kvDiscState+node)
}

// finishMove deletes the old object of a moved node once its endpoints are
// gone, after this sync's discovery. It reports whether the object is gone;
// if not, the next sync plans it again.
func (a *applier) finishMove(ctx context.Context, st Step) bool {
	s := a.s
	if ctx.Err() != nil {
		return false
	}
	eps, err := s.client.ListEndpoints(ctx, st.ID)
	if err != nil {
		s.log.Warn("alexa: list endpoints of a moved node's old object", "kind", st.Kind, "id", st.ID, "err", err)
		return false
	}
	if len(eps) > 0 {
		s.log.Info("alexa: old object of a moved node still has endpoints; the next sync looks again",
			"kind", st.Kind, "id", st.ID, "node", st.Moved(), "endpoints", len(eps))
		return false
	}
	st.Op = OpDelete
	if err := a.delete(ctx, st); err != nil {
		if errors.Is(err, ErrUnitNotEmpty) {
			s.log.Info("alexa: old object of a moved node not deletable yet", "kind", st.Kind, "id", st.ID, "err", err)
		} else {
			s.log.Warn("alexa: delete old object of a moved node", "kind", st.Kind, "id", st.ID, "err", err)
		}
		return false
	}
	return true
}

// keptChild returns a home of community whose delete was refused as
// read-only in this sync, or "".
func (a *applier) keptChild(community string) string {
	for _, id := range a.snap.children[community] {
		if a.kept[id] {
			return id
		}
	}
	return ""
}
