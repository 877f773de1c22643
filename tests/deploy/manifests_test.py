#!/usr/bin/env python3
"""The deployment files in deploy/ are consistent and their configs valid.

  manifests_test.py IMAPFRONT_BINARY REPO_ROOT

- every YAML file of deploy/kubernetes parses, and kustomization.yaml lists
  files that exist;
- the ConfigMap's imapfront.json, the container's deploy/container/imapfront.json
  and the package's example pass `imapfront --check-config` (certificate
  paths pointed at a test certificate);
- the Deployment's probes reach /healthz on the port stats.listen uses, its
  container ports are the listeners' ports, its grace period outlasts
  preStop + shutdown_grace + close_timeout, it runs as the image's user;
- the Service and ServiceMonitor select the Deployment's pods.
"""
import json
import os
import re
import subprocess
import sys
import tempfile

import yaml

BINARY, ROOT = sys.argv[1], sys.argv[2]
K8S = os.path.join(ROOT, "deploy", "kubernetes")
failures = []


def check(ok, message):
    if not ok:
        failures.append(message)


def strip_comments(text):
    """The config format's // and /* */ comments, outside strings."""
    out, i, in_string = [], 0, False
    while i < len(text):
        c = text[i]
        if in_string:
            out.append(c)
            if c == "\\":
                out.append(text[i + 1])
                i += 1
            elif c == '"':
                in_string = False
        elif c == '"':
            in_string = True
            out.append(c)
        elif text.startswith("//", i):
            i = text.find("\n", i)
            if i < 0:
                break
            continue
        elif text.startswith("/*", i):
            i = text.index("*/", i) + 2
            continue
        else:
            out.append(c)
        i += 1
    return "".join(out)


def check_config(name, text, cert, key):
    """Runs --check-config on |text| with its certificate paths replaced."""
    config = json.loads(strip_comments(text))
    for c in config["tls"]["certificates"]:
        c["cert"], c["key"] = cert, key
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
        json.dump(config, f)
    r = subprocess.run([BINARY, "--check-config", f.name], capture_output=True, text=True,
                       timeout=60)
    check(r.returncode == 0 and "config ok" in r.stdout,
          f"{name}: --check-config exit {r.returncode}: {r.stdout}{r.stderr}")
    return config


def port_of(listen):
    return int(listen.rsplit(":", 1)[1])


def main():
    tmp = tempfile.mkdtemp()
    cert, key = os.path.join(tmp, "tls.crt"), os.path.join(tmp, "tls.key")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                    "ec_paramgen_curve:P-256", "-noenc", "-days", "2", "-subj", "/CN=localhost",
                    "-keyout", key, "-out", cert], check=True, capture_output=True)

    docs = {}
    for name in sorted(os.listdir(K8S)):
        if name.endswith(".yaml"):
            with open(os.path.join(K8S, name)) as f:
                try:
                    docs[name] = [d for d in yaml.safe_load_all(f) if d is not None]
                except yaml.YAMLError as e:
                    check(False, f"{name}: does not parse: {e}")
    kustomization = docs.get("kustomization.yaml", [{}])[0]
    for resource in kustomization.get("resources", []):
        check(resource in docs, f"kustomization.yaml lists {resource}, which is not there")
    by_kind = {}
    for name, items in docs.items():
        for d in items:
            by_kind.setdefault(d.get("kind"), []).append(d)
    for kind in ("ConfigMap", "Deployment", "Service", "Secret", "PodDisruptionBudget",
                 "HorizontalPodAutoscaler", "ServiceMonitor"):
        check(kind in by_kind, f"no {kind} in deploy/kubernetes")
    if failures:
        return

    configmap = by_kind["ConfigMap"][0]
    config = check_config("configmap.yaml", configmap["data"]["imapfront.json"], cert, key)
    for c in json.loads(configmap["data"]["imapfront.json"])["tls"]["certificates"]:
        check(c["cert"].startswith("/etc/imapfront/tls/"), "ConfigMap: certificate outside the Secret")
    with open(os.path.join(ROOT, "deploy", "container", "imapfront.json")) as f:
        check_config("deploy/container/imapfront.json", f.read(), cert, key)
    with open(os.path.join(ROOT, "deploy", "package", "imapfront.json.example")) as f:
        check_config("deploy/package/imapfront.json.example", f.read(), cert, key)

    deployment = by_kind["Deployment"][0]
    pod = deployment["spec"]["template"]
    labels = pod["metadata"]["labels"]
    spec = pod["spec"]
    container = spec["containers"][0]
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    stats_port = port_of(config["stats"]["listen"])
    check(config["stats"]["listen"].startswith("0.0.0.0:"),
          "ConfigMap: stats.listen must be reachable by the kubelet's probes")
    for probe in ("readinessProbe", "livenessProbe"):
        get = container.get(probe, {}).get("httpGet", {})
        check(get.get("path") == "/healthz", f"Deployment: {probe} is not on /healthz")
        port = get.get("port")
        check(ports.get(port, port) == stats_port,
              f"Deployment: {probe} port {port} is not stats.listen's {stats_port}")
    for listener in config["listeners"]:
        check(port_of(listener["listen"]) in ports.values(),
              f"Deployment: no container port for listener {listener['name']}")
    limits = config.get("limits", {})
    grace = limits.get("shutdown_grace", 30) + limits.get("close_timeout", 5)
    pre_stop = container["lifecycle"]["preStop"]
    sleep = pre_stop.get("sleep", {}).get("seconds")
    if sleep is None:
        command = pre_stop["exec"]["command"]
        sleep = int(re.search(r"\d+", " ".join(command)).group())
    check(spec["terminationGracePeriodSeconds"] > sleep + grace,
          f"Deployment: terminationGracePeriodSeconds {spec['terminationGracePeriodSeconds']} "
          f"does not outlast preStop {sleep} + shutdown_grace + close_timeout {grace}")
    security = spec.get("securityContext", {})
    check(security.get("runAsNonRoot") is True, "Deployment: not runAsNonRoot")
    check(security.get("runAsUser") == 10993, "Deployment: not the image's user 10993")
    check(container.get("securityContext", {}).get("readOnlyRootFilesystem") is True,
          "Deployment: root filesystem not read-only")
    check("cpu" in container.get("resources", {}).get("requests", {}),
          "Deployment: no CPU request (the HPA scales on it)")
    selector = deployment["spec"]["selector"]["matchLabels"]
    check(all(labels.get(k) == v for k, v in selector.items()), "Deployment: selector misses its pods")

    for service in by_kind["Service"]:
        sel = service["spec"].get("selector", {})
        check(sel and all(labels.get(k) == v for k, v in sel.items()),
              f"Service {service['metadata']['name']}: selector misses the pods")
        for p in service["spec"]["ports"]:
            target = p.get("targetPort", p["port"])
            check(ports.get(target, target) in ports.values(),
                  f"Service {service['metadata']['name']}: targetPort {target} is no container port")
    pdb = by_kind["PodDisruptionBudget"][0]
    check(pdb["spec"]["selector"]["matchLabels"].items() <= labels.items(),
          "PodDisruptionBudget: selector misses the pods")
    hpa = by_kind["HorizontalPodAutoscaler"][0]
    check(hpa["spec"]["scaleTargetRef"]["name"] == deployment["metadata"]["name"],
          "HPA: scales another Deployment")
    check(any(m.get("resource", {}).get("name") == "cpu" for m in hpa["spec"]["metrics"]),
          "HPA: not on CPU")
    monitor = by_kind["ServiceMonitor"][0]
    endpoints = monitor["spec"]["endpoints"]
    check(any(e.get("path") == "/metrics" for e in endpoints), "ServiceMonitor: not /metrics")
    monitored = [s for s in by_kind["Service"]
                 if monitor["spec"]["selector"]["matchLabels"].items() <= s["metadata"].get("labels", {}).items()]
    check(monitored and any(e.get("port") in [p.get("name") for s in monitored for p in s["spec"]["ports"]]
                            for e in endpoints),
          "ServiceMonitor: selects no Service port it scrapes")
    check(pod["metadata"].get("annotations", {}).get("prometheus.io/port") == str(stats_port),
          "Deployment: prometheus.io/port is not the stats port")


main()
for f in failures:
    print("FAIL:", f)
print(f"manifests_test: {len(failures)} failures")
sys.exit(1 if failures else 0)
