"""Chart checks for the Rust tests (tests/support/helm.rs), through the real Helm library.

helm-python-sdk binds Helm v4's Go SDK (libhelm_c) with ctypes, so rendering and linting here are what
`helm template` and `helm lint` do, without a helm binary. Every command prints one JSON document on stdout;
Helm's own refusals (schema, `fail`, template errors) exit 2 with the message on stderr.

  render   --chart DIR --release NAME --namespace NS [--values FILE] [--set-json JSON]
  lint     --chart DIR --namespace NS [--values FILE] [--set-json JSON] --kube-version v1.33.0
  validate --kube-version 1.33.0   < JSON array of objects
"""

import argparse
import json
import sys

import helm_python as helm
import kubernetes_validate
import yaml


def merge(base, override):
    """Helm's coalescing of -f/--set layers: maps merge key by key, anything else is replaced, null deletes."""
    if not isinstance(base, dict) or not isinstance(override, dict):
        return override
    out = dict(base)
    for key, value in override.items():
        if value is None:
            out.pop(key, None)
        else:
            out[key] = merge(out.get(key), value)
    return out


def user_values(args):
    values = {}
    if args.values:
        with open(args.values, encoding="utf-8") as f:
            values = helm.values_from_yaml(f.read()) or {}
    if args.set_json:
        values = merge(values, json.loads(args.set_json))
    return values


def documents(text):
    return [doc for doc in yaml.safe_load_all(text) if doc is not None]


def render(args):
    with helm.Chart.load(args.chart) as chart:
        templates = chart.render(user_values(args), name=args.release, namespace=args.namespace,
                                 is_install=True)
        crds = chart.crds
    result = {"notes": "", "manifests": [], "crds": []}
    # Helm sorts templates by path; kubectl applies them in this order after the CRDs.
    for path in sorted(templates):
        text = templates[path]
        if path.endswith("NOTES.txt"):
            result["notes"] = text
        elif path.rsplit("/", 1)[-1].startswith("_") or not text.strip():
            continue
        else:
            result["manifests"].append({"template": path, "yaml": text, "objects": documents(text)})
    for crd in crds:
        result["crds"].append({"template": crd["filename"], "yaml": crd["data"],
                               "objects": documents(crd["data"])})
    return result


def lint(args):
    return helm.lint(args.chart, user_values(args), strict=True, namespace=args.namespace,
                     kube_version=args.kube_version)


def validate(args):
    results = []
    for obj in json.load(sys.stdin):
        entry = {"kind": obj.get("kind"), "apiVersion": obj.get("apiVersion"),
                 "name": (obj.get("metadata") or {}).get("name")}
        try:
            kubernetes_validate.validate(obj, args.kube_version, strict=True)
            entry["result"] = "valid"
        except kubernetes_validate.SchemaNotFoundError as e:
            entry["result"] = "no-schema"
            entry["error"] = e.message
        except kubernetes_validate.ValidationError as e:
            entry["result"] = "invalid"
            entry["error"] = "%s (at %s)" % (e.message, "/".join(str(p) for p in e.path))
        results.append(entry)
    return results


def main():
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers(dest="command", required=True)
    for name in ("render", "lint"):
        p = sub.add_parser(name)
        p.add_argument("--chart", required=True)
        p.add_argument("--namespace", required=True)
        p.add_argument("--values")
        p.add_argument("--set-json")
        if name == "render":
            p.add_argument("--release", required=True)
        else:
            p.add_argument("--kube-version", required=True)
    p = sub.add_parser("validate")
    p.add_argument("--kube-version", required=True)
    args = parser.parse_args()

    try:
        result = {"render": render, "lint": lint, "validate": validate}[args.command](args)
    except helm.HelmError as e:
        print("%s: %s" % (type(e).__name__, e), file=sys.stderr)
        return 2
    json.dump(result, sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main())
