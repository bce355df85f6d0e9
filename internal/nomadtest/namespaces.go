package nomadtest

import (
	"maps"
	"net/http"
	"regexp"
	"sort"
	"strings"

	"github.com/hashicorp/nomad/api"
)

var namespaceNameRE = regexp.MustCompile(`^[a-zA-Z0-9-]{1,128}$`)

func (s *Server) listNamespaces(q *request) error {
	prefix := q.query.Get("prefix")
	return s.query(q, []string{tblNamespaces}, func(st *state) (any, error) {
		out := []*api.Namespace{}
		for name, ns := range st.namespaces {
			if strings.HasPrefix(name, prefix) {
				out = append(out, copyNamespace(ns))
			}
		}
		sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
		return out, nil
	})
}

func (s *Server) getNamespace(q *request) error {
	name := q.param("name")
	return s.query(q, []string{tblNamespaces}, func(st *state) (any, error) {
		ns := st.namespaces[name]
		if ns == nil {
			return nil, errCode(http.StatusNotFound, "namespace not found")
		}
		return copyNamespace(ns), nil
	})
}

func (s *Server) applyNamespace(q *request) error {
	var in api.Namespace
	if err := q.decode(&in); err != nil {
		return err
	}
	if n := q.param("name"); n != "" && in.Name == "" {
		in.Name = n
	}
	if !namespaceNameRE.MatchString(in.Name) {
		return errCode(http.StatusInternalServerError, "1 error occurred:\n\t* invalid name %q. Must match regex %s\n\n", in.Name, namespaceNameRE)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	ns := copyNamespace(&in)
	if ns.Meta == nil {
		ns.Meta = map[string]string{}
	}
	idx := s.st.bump(tblNamespaces)
	if old := s.st.namespaces[in.Name]; old != nil {
		ns.CreateIndex = old.CreateIndex
	} else {
		ns.CreateIndex = idx
	}
	ns.ModifyIndex = idx
	s.st.namespaces[in.Name] = ns
	return q.reply(idx, nil)
}

func (s *Server) deleteNamespace(q *request) error {
	name := q.param("name")
	s.mu.Lock()
	defer s.mu.Unlock()
	if name == api.DefaultNamespace {
		return errCode(http.StatusInternalServerError, "default namespace can not be deleted")
	}
	if s.st.namespaces[name] == nil {
		return errCode(http.StatusInternalServerError, "namespace not found")
	}
	if n := s.st.liveJobs(name); n > 0 {
		return errCode(http.StatusInternalServerError, "namespace %q has non-terminal jobs in regions: [%s]", name, s.region)
	}
	// Host volumes do not keep a namespace from being deleted (seen on
	// Nomad 2.0.5): they stay, in a namespace that no longer exists.
	// Dead jobs left in a deleted namespace are garbage collected with it.
	for k := range s.st.jobs {
		if k.ns == name {
			delete(s.st.jobs, k)
		}
	}
	delete(s.st.namespaces, name)
	idx := s.st.bump(tblNamespaces, tblJobs)
	return q.reply(idx, nil)
}

func copyNamespace(ns *api.Namespace) *api.Namespace {
	c := *ns
	c.Meta = maps.Clone(ns.Meta)
	return &c
}

// namespaceExists reports whether ns exists; callers hold s.mu.
func (s *Server) namespaceExists(ns string) bool { return s.st.namespaces[ns] != nil }
