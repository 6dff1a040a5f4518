// Parses every manifest under deploy/k8s with yaml-cpp and checks what a cluster would need (no
// cluster runs here): each service a Deployment running its binary from the one image with
// /healthz and /readyz probes on its container port, Prometheus scrape annotations, the config
// from the ConfigMap and the Secret; a Service per Deployment selecting its pods; a KEDA
// ScaledObject per stage scaling on its RabbitMQ queue length through a TriggerAuthentication.
#include <filesystem>
#include <map>
#include <set>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <yaml-cpp/yaml.h>

namespace {

namespace fs = std::filesystem;

const fs::path kDir = fs::path(CHANSUM_SOURCE_DIR) / "deploy" / "k8s";

struct Doc {
  std::string file;
  YAML::Node node;
};

std::vector<Doc> LoadAll() {
  std::vector<Doc> docs;
  for (const auto& entry : fs::directory_iterator(kDir)) {
    if (entry.path().extension() != ".yaml") continue;
    for (const auto& node : YAML::LoadAllFromFile(entry.path().string())) {
      if (node && !node.IsNull()) docs.push_back({entry.path().filename().string(), node});
    }
  }
  return docs;
}

std::string Str(const YAML::Node& n) { return n && n.IsScalar() ? n.as<std::string>() : ""; }

const Doc* Find(const std::vector<Doc>& docs, const std::string& kind, const std::string& name) {
  for (const auto& d : docs) {
    if (Str(d.node["kind"]) == kind && Str(d.node["metadata"]["name"]) == name) return &d;
  }
  return nullptr;
}

struct Service {
  std::string name, binary, queue;  // queue empty: not a stage
  bool media = false;
};
const std::vector<Service> kServices = {
    {"orchestrator", "chansum-orchestrator", "", false},
    {"discovery", "chansum-discovery", "discovery", false},
    {"download", "chansum-download", "download", true},
    {"audio-extraction", "chansum-audio-extraction", "audio_extraction", true},
    {"transcription", "chansum-transcription", "transcription", true},
    {"summarization", "chansum-summarization", "summarization", false},
    {"analytics", "chansum-analytics", "", false},
    {"event-logger", "chansum-event-logger", "", false},
};

TEST(K8sManifests, EveryDocumentParsesWithKindAndName) {
  const auto docs = LoadAll();
  ASSERT_GE(docs.size(), 20u);
  for (const auto& d : docs) {
    EXPECT_FALSE(Str(d.node["apiVersion"]).empty()) << d.file;
    EXPECT_FALSE(Str(d.node["kind"]).empty()) << d.file;
    if (Str(d.node["kind"]) != "Kustomization") {
      EXPECT_FALSE(Str(d.node["metadata"]["name"]).empty()) << d.file;
    }
  }
}

TEST(K8sManifests, KustomizationListsEveryManifestButTheSecretExample) {
  const auto k = YAML::LoadFile((kDir / "kustomization.yaml").string());
  std::set<std::string> listed;
  for (const auto& r : k["resources"]) listed.insert(r.as<std::string>());
  for (const auto& entry : fs::directory_iterator(kDir)) {
    const std::string f = entry.path().filename().string();
    if (entry.path().extension() != ".yaml" || f == "kustomization.yaml" ||
        f == "secret.example.yaml") {
      continue;
    }
    EXPECT_TRUE(listed.count(f)) << f << " is not in kustomization.yaml";
  }
  for (const auto& f : listed) EXPECT_TRUE(fs::exists(kDir / f)) << f;
}

TEST(K8sManifests, DeploymentsRunTheirBinaryWithProbesScrapeAnnotationsAndConfig) {
  const auto docs = LoadAll();
  const Doc* config = Find(docs, "ConfigMap", "chansum-config");
  ASSERT_TRUE(config);
  const Doc* secret = Find(docs, "Secret", "chansum-credentials");
  ASSERT_TRUE(secret) << "secret.example.yaml documents the Secret";
  // API_TOKEN: the pods listen on 0.0.0.0 and refuse to start without one (issue 18 §4.1).
  for (const char* required : {"DATABASE_URL", "AMQP_URL", "API_TOKEN"}) {
    EXPECT_TRUE(secret->node["stringData"][required]) << required;
  }
  for (const char* var : {"KAFKA_BROKERS", "MONGO_URI", "HEALTH_PORT", "MEDIA_DIR"}) {
    EXPECT_TRUE(config->node["data"][var]) << var;
  }
  EXPECT_EQ(Str(config->node["data"]["HTTP_ADDR"]), "0.0.0.0");
  EXPECT_EQ(Str(config->node["data"]["HEALTH_ADDR"]), "0.0.0.0");
  EXPECT_EQ(Str(config->node["data"]["ANALYTICS_HTTP_ADDR"]), "0.0.0.0");
  const std::string health_port = Str(config->node["data"]["HEALTH_PORT"]);

  std::set<std::string> images;
  for (const auto& s : kServices) {
    SCOPED_TRACE(s.name);
    const Doc* d = Find(docs, "Deployment", s.name);
    ASSERT_TRUE(d);
    const auto pod = d->node["spec"]["template"];
    const auto labels = pod["metadata"]["labels"];
    for (const auto& kv : d->node["spec"]["selector"]["matchLabels"]) {
      EXPECT_EQ(Str(labels[kv.first.as<std::string>()]), kv.second.as<std::string>());
    }
    EXPECT_TRUE(pod["spec"]["securityContext"]["runAsNonRoot"].as<bool>());
    ASSERT_EQ(pod["spec"]["containers"].size(), 1u);
    const auto c = pod["spec"]["containers"][0];
    images.insert(Str(c["image"]));
    ASSERT_TRUE(c["command"].IsSequence());
    EXPECT_EQ(Str(c["command"][0]), s.binary);
    // Port: the API port for orchestrator/analytics, HEALTH_PORT for the others.
    const std::string port = Str(c["ports"][0]["containerPort"]);
    const std::string port_name = Str(c["ports"][0]["name"]);
    if (s.name == "orchestrator" || s.name == "analytics") {
      bool set = false;
      for (const auto& e : c["env"]) {
        if (Str(e["value"]) == port &&
            (Str(e["name"]) == "HTTP_PORT" || Str(e["name"]) == "ANALYTICS_HTTP_PORT")) {
          set = true;
        }
      }
      EXPECT_TRUE(set) << "the container port " << port << " must be the service's port";
    } else {
      EXPECT_EQ(port, health_port);
    }
    EXPECT_EQ(Str(c["livenessProbe"]["httpGet"]["path"]), "/healthz");
    EXPECT_EQ(Str(c["readinessProbe"]["httpGet"]["path"]), "/readyz");
    for (const char* probe : {"livenessProbe", "readinessProbe"}) {
      const std::string p = Str(c[probe]["httpGet"]["port"]);
      EXPECT_TRUE(p == port || p == port_name) << probe << " port " << p;
    }
    const auto annotations = pod["metadata"]["annotations"];
    EXPECT_EQ(Str(annotations["prometheus.io/scrape"]), "true");
    EXPECT_EQ(Str(annotations["prometheus.io/path"]), "/metrics");
    EXPECT_EQ(Str(annotations["prometheus.io/port"]), port);
    std::set<std::string> from;
    for (const auto& e : c["envFrom"]) {
      if (e["configMapRef"]) from.insert("cm:" + Str(e["configMapRef"]["name"]));
      if (e["secretRef"]) from.insert("secret:" + Str(e["secretRef"]["name"]));
    }
    EXPECT_TRUE(from.count("cm:chansum-config"));
    EXPECT_TRUE(from.count("secret:chansum-credentials"));
    if (s.media) {
      std::string claim;
      for (const auto& v : pod["spec"]["volumes"]) {
        for (const auto& m : c["volumeMounts"]) {
          if (Str(m["name"]) == Str(v["name"]) &&
              Str(m["mountPath"]) == Str(config->node["data"]["MEDIA_DIR"])) {
            claim = Str(v["persistentVolumeClaim"]["claimName"]);
          }
        }
      }
      ASSERT_FALSE(claim.empty()) << "the media volume must be mounted at MEDIA_DIR";
      const Doc* pvc = Find(docs, "PersistentVolumeClaim", claim);
      ASSERT_TRUE(pvc);
      EXPECT_EQ(Str(pvc->node["spec"]["accessModes"][0]), "ReadWriteMany");
    }
    const Doc* svc = Find(docs, "Service", s.name);
    ASSERT_TRUE(svc);
    for (const auto& kv : svc->node["spec"]["selector"]) {
      EXPECT_EQ(Str(labels[kv.first.as<std::string>()]), kv.second.as<std::string>());
    }
    const std::string target = Str(svc->node["spec"]["ports"][0]["targetPort"]);
    EXPECT_TRUE(target == port || target == port_name);
  }
  EXPECT_EQ(images.size(), 1u) << "one image for every service";
}

TEST(K8sManifests, EveryStageHasAKedaScaledObjectOnItsQueueLength) {
  const auto docs = LoadAll();
  std::set<std::string> auth_names;
  for (const auto& d : docs) {
    if (Str(d.node["kind"]) != "TriggerAuthentication") continue;
    EXPECT_EQ(Str(d.node["apiVersion"]), "keda.sh/v1alpha1");
    for (const auto& ref : d.node["spec"]["secretTargetRef"]) {
      if (Str(ref["parameter"]) == "host" && Str(ref["name"]) == "chansum-credentials") {
        auth_names.insert(Str(d.node["metadata"]["name"]));
      }
    }
  }
  ASSERT_FALSE(auth_names.empty()) << "a TriggerAuthentication giving KEDA the RabbitMQ host";
  int scaled = 0;
  for (const auto& s : kServices) {
    if (s.queue.empty()) continue;
    SCOPED_TRACE(s.name);
    const Doc* so = Find(docs, "ScaledObject", s.name);
    ASSERT_TRUE(so);
    EXPECT_EQ(Str(so->node["apiVersion"]), "keda.sh/v1alpha1");
    EXPECT_EQ(Str(so->node["spec"]["scaleTargetRef"]["name"]), s.name);
    EXPECT_TRUE(Find(docs, "Deployment", s.name));
    EXPECT_LE(so->node["spec"]["minReplicaCount"].as<int>(),
              so->node["spec"]["maxReplicaCount"].as<int>());
    ASSERT_EQ(so->node["spec"]["triggers"].size(), 1u);
    const auto t = so->node["spec"]["triggers"][0];
    EXPECT_EQ(Str(t["type"]), "rabbitmq");
    EXPECT_EQ(Str(t["metadata"]["mode"]), "QueueLength");
    EXPECT_EQ(Str(t["metadata"]["queueName"]), s.queue);
    EXPECT_GT(std::stoi(Str(t["metadata"]["value"])), 0);
    EXPECT_TRUE(auth_names.count(Str(t["authenticationRef"]["name"])));
    ++scaled;
  }
  EXPECT_EQ(scaled, 5);
}

}  // namespace
