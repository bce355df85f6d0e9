package jobhcl

import (
	"fmt"
	"math"
	"math/big"

	"github.com/hashicorp/hcl/v2"
	"github.com/zclconf/go-cty/cty"
)

// decoder holds what decoding a job needs: the evaluation context (`var`, `local`, the runtime references
// and the functions) and the arguments of free-form maps, evaluated last.
type decoder struct {
	ctx      *hcl.EvalContext
	deferred []deferredArg
}

// deferredArg is one argument of a free-form map (a task's config), evaluated after the job decoded.
type deferredArg struct {
	m    map[string]any
	name string
	expr hcl.Expression
}

// evalFreeform evaluates the free-form arguments into their maps. A null argument is left out of its map.
func (d *decoder) evalFreeform() hcl.Diagnostics {
	var diags hcl.Diagnostics
	for _, a := range d.deferred {
		val, vd := a.expr.Value(d.ctx)
		diags = append(diags, vd...)
		g, err := plainValue(val)
		if err != nil {
			diags = append(diags, &hcl.Diagnostic{
				Severity: hcl.DiagError,
				Summary:  "unsuitable value type",
				Detail:   fmt.Sprintf("Unsuitable value: %s", err),
				Subject:  a.expr.StartRange().Ptr(),
				Context:  a.expr.Range().Ptr(),
			})
		}
		if g == nil {
			delete(a.m, a.name)
			continue
		}
		a.m[a.name] = g
	}
	return diags
}

// plainValue converts a cty value to the plain Go value Nomad keeps in free-form maps: strings, bools,
// numbers as int (or int64, or float64), lists as []any except lists of objects, which are
// []map[string]any, and maps and objects as map[string]any. Null is nil.
func plainValue(v cty.Value) (any, error) {
	if v.IsNull() {
		return nil, nil
	}
	if !v.IsKnown() {
		return nil, fmt.Errorf("value is not known")
	}
	v, _ = v.Unmark()
	ty := v.Type()
	switch {
	case ty == cty.String:
		return v.AsString(), nil
	case ty == cty.Bool:
		return v.True(), nil
	case ty == cty.Number:
		switch {
		case v.RawEquals(cty.PositiveInfinity):
			return math.Inf(1), nil
		case v.RawEquals(cty.NegativeInfinity):
			return math.Inf(-1), nil
		}
		return smallestNumber(v.AsBigFloat()), nil
	case listOfObjects(ty):
		out := []map[string]any{}
		for it := v.ElementIterator(); it.Next(); {
			_, ev := it.Element()
			g, err := plainValue(ev)
			if err != nil {
				return nil, err
			}
			m, _ := g.(map[string]any)
			out = append(out, m)
		}
		return out, nil
	case ty.IsListType() || ty.IsSetType() || ty.IsTupleType():
		out := []any{}
		for it := v.ElementIterator(); it.Next(); {
			_, ev := it.Element()
			g, err := plainValue(ev)
			if err != nil {
				return nil, err
			}
			out = append(out, g)
		}
		return out, nil
	case ty.IsMapType() || ty.IsObjectType():
		out := map[string]any{}
		for it := v.ElementIterator(); it.Next(); {
			k, ev := it.Element()
			g, err := plainValue(ev)
			if err != nil {
				return nil, err
			}
			out[k.AsString()] = g
		}
		return out, nil
	}
	return nil, fmt.Errorf("cannot serialize %s", ty.FriendlyName())
}

// listOfObjects reports whether a type is a non-empty list, set or tuple whose elements are all maps or
// objects.
func listOfObjects(t cty.Type) bool {
	switch {
	case t.IsCollectionType() && !t.IsMapType():
		et := t.ElementType()
		return et.IsMapType() || et.IsObjectType()
	case t.IsTupleType():
		ets := t.TupleElementTypes()
		for _, et := range ets {
			if !et.IsMapType() && !et.IsObjectType() {
				return false
			}
		}
		return len(ets) > 0
	}
	return false
}

// smallestNumber is a whole number as int, else a float64.
func smallestNumber(b *big.Float) any {
	if i, acc := b.Int64(); acc == big.Exact {
		if int64(int(i)) == i {
			return int(i)
		}
		return i
	}
	f, _ := b.Float64()
	return f
}

// goValue converts a cty value to a plain Go value (see plainValue), nil when it cannot.
func goValue(v cty.Value) any {
	g, _ := plainValue(v)
	return g
}
