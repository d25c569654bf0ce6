//! End-to-end tests of `load`: real files in temporary directories, an
//! explicit environment (never the test process's own).

use super::*;
use std::fs;
use std::time::Duration;

const SEEDS: &str = r#"services:
  api-gateway:            # Wasm HTTP gateway: fast start, low resources
    image: my-wasm-gateway
    platform: wasi/wasm
    runtime: io.containerd.wasmedge.v1
    ports: ["8080:8080"]
  backend:                # Linux backend
    image: my-backend:latest
    ports: ["3000:3000"]
    environment:
      - DATABASE_URL=postgres://db:5432/myapp
  db:                     # Linux database
    image: postgres:16-alpine
    volumes:
      - pgdata:/var/lib/postgresql/data
volumes:
  pgdata:
"#;

/// A project directory `<tmp>/My App` (so the default name is `myapp`).
struct Dir {
    _tmp: tempfile::TempDir,
    path: PathBuf,
}

impl Dir {
    fn new() -> Dir {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("My App");
        fs::create_dir(&path).unwrap();
        Dir { _tmp: tmp, path }
    }

    fn write(&self, name: &str, text: &str) -> &Dir {
        let file = self.path.join(name);
        fs::create_dir_all(file.parent().unwrap()).unwrap();
        fs::write(file, text).unwrap();
        self
    }

    fn options(&self) -> LoadOptions {
        LoadOptions {
            files: Vec::new(),
            project_name: None,
            working_dir: self.path.clone(),
            env: [("HOME".to_string(), "/home/tester".to_string())].into(),
        }
    }

    fn load(&self) -> Result<Project> {
        load(&self.options())
    }

    fn load_with_env(&self, pairs: &[(&str, &str)]) -> Result<Project> {
        let mut options = self.options();
        for (k, v) in pairs {
            options.env.insert(k.to_string(), v.to_string());
        }
        load(&options)
    }
}

fn compose(text: &str) -> Dir {
    let dir = Dir::new();
    dir.write("compose.yaml", text);
    dir
}

fn load_err(text: &str) -> String {
    compose(text).load().unwrap_err().to_string()
}

fn warning_texts(project: &Project) -> Vec<String> {
    project.warnings.iter().map(ToString::to_string).collect()
}

#[test]
fn seeds_file_loads_with_no_warnings() {
    let dir = compose(SEEDS);
    let project = dir.load().unwrap();
    assert!(project.warnings.is_empty(), "{:?}", project.warnings);
    assert_eq!(project.name, "myapp");
    assert_eq!(project.working_dir, dir.path);
    assert_eq!(project.config_files, [dir.path.join("compose.yaml")]);
    assert_eq!(
        project
            .notes
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>(),
        [
            "services.api-gateway.runtime: io.containerd.wasmedge.v1 is a containerd Wasm shim; \
          Wharf runs this service on its own Wasm executor"
        ]
    );

    let gateway = &project.services["api-gateway"];
    assert_eq!(gateway.kind(), ServiceKind::Wasm);
    assert_eq!(gateway.image.as_deref(), Some("my-wasm-gateway"));
    assert_eq!(
        gateway.ports,
        [Port {
            mode: "ingress".into(),
            host_ip: None,
            target: 8080,
            published: Some("8080".into()),
            protocol: "tcp".into(),
        }]
    );
    let backend = &project.services["backend"];
    assert_eq!(backend.kind(), ServiceKind::FromImage);
    assert_eq!(
        backend.environment,
        BTreeMap::from([(
            "DATABASE_URL".to_string(),
            "postgres://db:5432/myapp".to_string()
        )])
    );
    let db = &project.services["db"];
    assert_eq!(db.kind(), ServiceKind::FromImage);
    assert_eq!(
        db.volumes,
        [Mount {
            kind: MountKind::Volume,
            source: Some("pgdata".into()),
            target: "/var/lib/postgresql/data".into(),
            read_only: false,
            bind: None,
        }]
    );

    assert_eq!(project.volumes["pgdata"].name, "myapp_pgdata");
    assert_eq!(project.networks.keys().collect::<Vec<_>>(), ["default"]);
    assert_eq!(project.networks["default"].name, "myapp_default");
    for service in project.services.values() {
        assert_eq!(service.networks.keys().collect::<Vec<_>>(), ["default"]);
        assert_eq!(
            project.network_aliases(service, "default"),
            std::slice::from_ref(&service.name)
        );
    }
    assert_eq!(project.container_name(db), "myapp-db-1");
    assert_eq!(project.start_order(), ["api-gateway", "backend", "db"]);
}

#[test]
fn seeds_config_rendering() {
    let project = compose(SEEDS).load().unwrap();
    let expected = "\
name: myapp
services:
  api-gateway:
    image: my-wasm-gateway
    networks:
      default: null
    platform: wasi/wasm
    ports:
    - mode: ingress
      target: 8080
      published: '8080'
      protocol: tcp
    runtime: io.containerd.wasmedge.v1
  backend:
    environment:
      DATABASE_URL: postgres://db:5432/myapp
    image: my-backend:latest
    networks:
      default: null
    ports:
    - mode: ingress
      target: 3000
      published: '3000'
      protocol: tcp
  db:
    image: postgres:16-alpine
    networks:
      default: null
    volumes:
    - type: volume
      source: pgdata
      target: /var/lib/postgresql/data
networks:
  default:
    name: myapp_default
volumes:
  pgdata:
    name: myapp_pgdata
";
    assert_eq!(project.to_config_yaml(), expected);
    // The rendering is itself a Compose file that loads to the same model.
    let again = compose(&project.to_config_yaml()).load().unwrap();
    assert_eq!(again.services, project.services);
    assert!(again.warnings.is_empty(), "{:?}", again.warnings);
}

#[test]
fn config_rendering_of_a_full_service() {
    let dir = compose(
        r#"
name: full
services:
  web:
    build:
      context: ./app
      args: [VERSION=2]
    command: npm start --port "8 0"
    entrypoint: ["/bin/sh", "-c"]
    healthcheck:
      test: curl -f http://localhost || exit 1
      interval: 1m30s
      timeout: 500ms
      retries: 3
    restart: on-failure:3
    stop_grace_period: 1m
    mem_limit: 512m
    deploy: {resources: {limits: {cpus: '0.5', memory: 1g, pids: 100}}}
    volumes: ["./src:/src:ro"]
    depends_on: {db: {condition: service_healthy}}
  db:
    image: postgres
"#,
    );
    let yaml = dir.load().unwrap().to_config_yaml();
    let src = dir.path.join("src").display().to_string();
    let app = dir.path.join("app").display().to_string();
    for expected in [
        format!("    build:\n      context: {app}\n      dockerfile: Dockerfile\n      args:\n        VERSION: '2'\n"),
        "    command:\n    - npm\n    - start\n    - --port\n    - 8 0\n".to_string(),
        "    depends_on:\n      db:\n        condition: service_healthy\n        required: true\n".to_string(),
        "    deploy:\n      resources:\n        limits:\n          cpus: 0.5\n          memory: 1073741824\n          pids: 100\n".to_string(),
        "    healthcheck:\n      test:\n      - CMD-SHELL\n      - curl -f http://localhost || exit 1\n      interval: 1m30s\n      timeout: 500ms\n      retries: 3\n".to_string(),
        "    mem_limit: 536870912\n".to_string(),
        "    restart: on-failure:3\n".to_string(),
        "    stop_grace_period: 1m0s\n".to_string(),
        format!("    volumes:\n    - type: bind\n      source: {src}\n      target: /src\n      read_only: true\n      bind:\n        create_host_path: true\n"),
    ] {
        assert!(yaml.contains(&expected), "missing:\n{expected}\nin:\n{yaml}");
    }
}

#[test]
fn file_lookup_order_parents_and_override() {
    let dir = Dir::new();
    dir.write("docker-compose.yml", "services: {old: {image: old}}\n")
        .write("compose.yaml", "services: {new: {image: new}}\n")
        .write(
            "compose.override.yaml",
            "services: {new: {image: overridden}}\n",
        )
        .write("sub/deeper/.keep", "");
    let mut options = dir.options();
    options.working_dir = dir.path.join("sub/deeper");
    let project = load(&options).unwrap();
    assert_eq!(
        project.config_files,
        [
            dir.path.join("compose.yaml"),
            dir.path.join("compose.override.yaml")
        ]
    );
    assert_eq!(project.working_dir, dir.path);
    assert_eq!(project.name, "myapp");
    assert_eq!(project.services.keys().collect::<Vec<_>>(), ["new"]);
    assert_eq!(project.services["new"].image.as_deref(), Some("overridden"));
    assert_eq!(project.warnings.len(), 1, "{:?}", project.warnings);
    assert!(
        project.warnings[0]
            .message
            .starts_with("found several config files with supported names"),
        "{}",
        project.warnings[0]
    );
}

#[test]
fn docker_compose_yml_is_found_and_missing_files_error() {
    let dir = Dir::new();
    dir.write("docker-compose.yml", "services: {a: {image: a}}\n");
    assert_eq!(
        dir.load().unwrap().config_files,
        [dir.path.join("docker-compose.yml")]
    );

    let empty = tempfile::tempdir().unwrap();
    let options = LoadOptions {
        working_dir: empty.path().to_path_buf(),
        ..LoadOptions::default()
    };
    let e = load(&options).unwrap_err().to_string();
    assert!(
        e.starts_with(&format!(
            "no Compose file found in {} or its parent directories (looked for compose.yaml, \
             compose.yml, docker-compose.yml, docker-compose.yaml)",
            empty.path().display()
        )),
        "{e}"
    );

    let mut options = Dir::new().options();
    options.files = vec![PathBuf::from("nope.yaml")];
    let e = load(&options).unwrap_err().to_string();
    assert!(e.starts_with("cannot read Compose file "), "{e}");
    assert!(e.contains("nope.yaml"), "{e}");
}

#[test]
fn compose_file_variable_selects_files() {
    let dir = Dir::new();
    dir.write("a.yaml", "services: {a: {image: a}}\n")
        .write("b.yaml", "services: {b: {image: b}}\n");
    let project = dir
        .load_with_env(&[("COMPOSE_FILE", "a.yaml:b.yaml")])
        .unwrap();
    assert_eq!(project.services.keys().collect::<Vec<_>>(), ["a", "b"]);
}

#[test]
fn project_name_precedence_and_normalisation() {
    let dir = compose("name: From_File\nservices: {a: {image: a}}\n");
    assert_eq!(dir.load().unwrap().name, "from_file");
    dir.write(".env", "COMPOSE_PROJECT_NAME=Dot.Env\n");
    assert_eq!(dir.load().unwrap().name, "dotenv");
    assert_eq!(
        dir.load_with_env(&[("COMPOSE_PROJECT_NAME", "Process")])
            .unwrap()
            .name,
        "process"
    );
    let mut options = dir.options();
    options.project_name = Some("-Web App 2".to_string());
    assert_eq!(load(&options).unwrap().name, "webapp2");

    // The name from the file is interpolated first.
    let dir = compose("name: ${STACK:-stack}-dev\nservices: {a: {image: a}}\n");
    assert_eq!(dir.load().unwrap().name, "stack-dev");

    let dir = compose("name: '***'\nservices: {a: {image: a}}\n");
    let e = dir.load().unwrap_err().to_string();
    assert!(
        e.starts_with("invalid project name \"***\" (from the top-level `name:`)"),
        "{e}"
    );
}

#[test]
fn interpolation_from_dotenv_and_process_env() {
    let dir = compose(
        r#"
services:
  web:
    image: "registry/${IMAGE}:${TAG:-latest}"
    environment:
      FROM_DOTENV: $ONLY_DOTENV
      OVERRIDDEN: ${BOTH}
      PRICE: "$$5"
      OPTIONAL: "${UNSET_VAR}"
    ports: ["${PORT-8080}:80"]
    read_only: ${RO}
"#,
    );
    dir.write(".env", "IMAGE=app\nONLY_DOTENV=dot\nBOTH=dotenv\nRO=true\n");
    let project = dir
        .load_with_env(&[("BOTH", "process"), ("TAG", "")])
        .unwrap();
    let web = &project.services["web"];
    assert_eq!(web.image.as_deref(), Some("registry/app:latest"));
    assert_eq!(web.environment["FROM_DOTENV"], "dot");
    assert_eq!(web.environment["OVERRIDDEN"], "process");
    assert_eq!(web.environment["PRICE"], "$5");
    assert_eq!(web.environment["OPTIONAL"], "");
    assert_eq!(web.ports[0].published.as_deref(), Some("8080"));
    assert!(web.read_only);
    assert_eq!(
        warning_texts(&project),
        ["services.web.environment.OPTIONAL: variable \"UNSET_VAR\" is not set, substituting an empty string"]
    );
}

#[test]
fn interpolation_errors_name_file_path_and_variable() {
    let dir = compose("services:\n  web:\n    image: \"app:${TAG:?set TAG to the release}\"\n");
    let e = dir.load().unwrap_err().to_string();
    assert_eq!(
        e,
        format!(
            "{}: services.web.image: required variable TAG is missing a value: set TAG to the release",
            dir.path.join("compose.yaml").display()
        )
    );
    let dir = compose("services:\n  web:\n    image: app\n    command: echo $5\n");
    let e = dir.load().unwrap_err().to_string();
    assert!(
        e.contains("services.web.command: invalid interpolation in \"echo $5\""),
        "{e}"
    );
    // Set but empty passes `?`, fails `:?`.
    let dir = compose("services:\n  web:\n    image: \"app${SUFFIX?}\"\n");
    assert_eq!(
        dir.load_with_env(&[("SUFFIX", "")]).unwrap().services["web"]
            .image
            .as_deref(),
        Some("app")
    );
}

#[test]
fn env_file_relative_to_project_and_overridden_by_environment() {
    let dir = compose(
        r#"
services:
  web:
    image: app
    env_file: [config/common.env, {path: ./missing.env, required: false}, config/local.env]
    environment:
      - WINS=environment
      - FROM_HOST
      - NOT_ANYWHERE
"#,
    );
    dir.write(
        "config/common.env",
        "# shared\nA=1\nWINS=file\nLATER=common\n",
    )
    .write("config/local.env", "LATER=local\nQUOTED=\"x y\"\n");
    let project = dir.load_with_env(&[("FROM_HOST", "host")]).unwrap();
    let web = &project.services["web"];
    let env: Vec<(&str, &str)> = web
        .environment
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    assert_eq!(
        env,
        [
            ("A", "1"),
            ("FROM_HOST", "host"),
            ("LATER", "local"),
            ("QUOTED", "x y"),
            ("WINS", "environment"),
        ]
    );
    assert_eq!(
        web.env_file,
        [
            dir.path.join("config/common.env").display().to_string(),
            dir.path.join("config/local.env").display().to_string()
        ]
    );

    let dir = compose("services:\n  web:\n    image: app\n    env_file: nothere.env\n");
    let e = dir.load().unwrap_err().to_string();
    assert!(
        e.starts_with(&format!(
            "cannot read env_file {}",
            dir.path.join("nothere.env").display()
        )),
        "{e}"
    );
}

#[test]
fn several_files_merge_in_order() {
    let dir = Dir::new();
    dir.write(
        "compose.yaml",
        r#"
services:
  web:
    image: web:1
    command: ["serve"]
    environment: {A: "1", B: "2"}
    ports: ["80:80"]
    volumes: ["./data:/data"]
  db:
    image: postgres
"#,
    )
    .write(
        "overrides/dev.yaml",
        r#"
services:
  web:
    image: web:dev
    environment: [B=dev, C=3]
    ports: ["9229:9229"]
    volumes: ["./src:/data"]
networks:
  extra:
"#,
    );
    let mut options = dir.options();
    options.files = vec!["compose.yaml".into(), "overrides/dev.yaml".into()];
    let project = load(&options).unwrap();
    assert_eq!(
        project.name, "myapp",
        "named after the first file's directory"
    );
    let web = &project.services["web"];
    assert_eq!(web.image.as_deref(), Some("web:dev"));
    assert_eq!(web.command.as_deref(), Some(&["serve".to_string()][..]));
    assert_eq!(
        web.environment,
        BTreeMap::from([
            ("A".to_string(), "1".to_string()),
            ("B".to_string(), "dev".to_string()),
            ("C".to_string(), "3".to_string()),
        ])
    );
    assert_eq!(
        web.ports.iter().map(|p| p.target).collect::<Vec<_>>(),
        [80, 9229]
    );
    // Same target: the later mount wins; its relative path is resolved
    // against the project directory, not the override file's.
    assert_eq!(web.volumes.len(), 1);
    assert_eq!(
        web.volumes[0].source.as_deref(),
        Some(dir.path.join("src").display().to_string().as_str())
    );
    assert_eq!(project.networks["extra"].name, "myapp_extra");
    assert_eq!(
        project.container_labels(web)[labels::CONFIG_FILES],
        format!(
            "{},{}",
            dir.path.join("compose.yaml").display(),
            dir.path.join("overrides/dev.yaml").display()
        )
    );
}

#[test]
fn unknown_and_unsupported_keys_are_warnings() {
    let project = compose(
        r#"
version: "3.8"
secrets: {}
services:
  web:
    image: app
    cgroup_parent: /mine
    profiles: [debug]
    imgae: typo
    privileged: true
    deploy:
      replicas: 3
      resources:
        limits: {memory: 64m}
        reservations: {memory: 32m}
    build:
      context: .
      cache_from: [x]
    healthcheck:
      test: [CMD, "true"]
      start_interval: 1s
    ports:
      - {target: 80, app_protocol: http}
    volumes:
      - ./x:/x:ro,z
networks:
  back:
    driver: overlay
    attachable: true
volumes:
  v:
    driver_opts: {type: nfs}
"#,
    )
    .load()
    .unwrap();
    let mut got = warning_texts(&project);
    got.sort();
    let mut want = [
        "version: the attribute is obsolete and ignored (as Docker Compose does); remove it",
        "secrets: not supported by Wharf, ignored",
        "services.web.cgroup_parent: not supported by Wharf, ignored",
        "services.web.profiles: not supported by Wharf, ignored; the service starts with all the others",
        "services.web.imgae: unknown key (not in the Compose specification), ignored",
        "services.web.privileged: not supported by Wharf, ignored",
        "services.web.deploy.replicas: not supported by Wharf (only deploy.resources.limits is), ignored",
        "services.web.deploy.resources.reservations: not supported by Wharf (only limits are applied), ignored",
        "services.web.build.cache_from: not supported by Wharf's build (it takes context, dockerfile, args and target), ignored",
        "services.web.healthcheck.start_interval: not supported by Wharf, ignored",
        "services.web.ports[0].app_protocol: not supported by Wharf, ignored",
        "services.web.volumes[0]: mount option \"z\" is not supported by Wharf, ignored",
        "networks.back.driver: driver \"overlay\" is not supported by Wharf, ignored; Wharf makes bridge networks",
        "networks.back.attachable: not supported by Wharf, ignored",
        "volumes.v.driver_opts: not supported by Wharf, ignored",
    ];
    want.sort();
    assert_eq!(got, want);
    // The supported parts were still read.
    let web = &project.services["web"];
    assert_eq!(
        web.deploy
            .as_ref()
            .unwrap()
            .resources
            .limits
            .as_ref()
            .unwrap()
            .memory,
        Some(64 << 20)
    );
    assert!(web.volumes[0].read_only);
}

#[test]
fn extension_keys_are_accepted_silently_at_every_level() {
    let project = compose(
        r#"
x-common: &common
  restart: always
  labels: {team: core}
services:
  web:
    <<: *common
    image: app
    x-notes: anything
    networks:
      front:
        x-meta: 1
    depends_on:
      db:
        condition: service_started
        x-why: data
    healthcheck: {test: [NONE], x-h: 1}
    deploy: {x-d: 1, resources: {x-r: 1, limits: {x-l: 1}}}
    build: {context: ., x-b: 1}
    ports: [{target: 80, x-p: 1}]
    volumes: [{type: volume, source: v, target: /v, x-v: 1}]
  db:
    image: db
networks:
  front: {x-n: 1, ipam: {x-i: 1, config: [{subnet: 10.5.0.0/16, x-c: 1}]}}
volumes:
  v: {x-v: 1}
"#,
    )
    .load()
    .unwrap();
    assert!(project.warnings.is_empty(), "{:?}", project.warnings);
    let web = &project.services["web"];
    assert_eq!(web.restart, Some(Restart::Always));
    assert_eq!(web.labels["team"], "core");
    assert_eq!(project.networks["front"].subnets, ["10.5.0.0/16"]);
    assert_eq!(web.healthcheck.as_ref().unwrap().test, HealthTest::None);
    assert!(web.healthcheck.as_ref().unwrap().disable);
}

#[test]
fn validation_errors() {
    let cases: &[(&str, &str)] = &[
        (
            "services:\n  web:\n    image: app\n  db: {build: .\n",
            "YAML syntax error at line 5, column 1: ",
        ),
        (
            "services:\n  web:\n    image: app\n    image: again\n",
            "YAML syntax error at line 3, column 5: services.web: duplicate entry with key \"image\"",
        ),
        (
            "services:\n  web:\n    ports: ['80:80']\n",
            "service \"web\" has neither `image` nor `build`; give it an image to run or a build context",
        ),
        (
            "services:\n  web:\n    image: app\n    depends_on: [db]\n",
            "service \"web\" depends on undefined service \"db\"; define it under `services:` or \
             remove it from depends_on (or mark it `required: false`)",
        ),
        (
            "services:\n  a: {image: x, depends_on: [b]}\n  b: {image: x, depends_on: [c]}\n  c: {image: x, depends_on: [a]}\n",
            "dependency cycle between services: a -> b -> c -> a; remove one of these depends_on entries",
        ),
        (
            "services:\n  a: {image: x, depends_on: [a]}\n",
            "dependency cycle between services: a -> a;",
        ),
        (
            "services:\n  web: {image: x, networks: [back]}\n",
            "service \"web\" refers to undefined network \"back\"; declare it under the top-level `networks:` section",
        ),
        (
            "services:\n  web: {image: x, volumes: ['data:/data']}\n",
            "service \"web\" refers to undefined volume \"data\"; declare it under the top-level `volumes:` section",
        ),
        (
            "services:\n  web: {image: x, ports: ['80:http']}\n",
            "services.web.ports[0]: invalid port \"http\": ports are numbers from 1 to 65535 (in port \"80:http\";",
        ),
        (
            "services:\n  web: {image: x, ports: [{published: 80}]}\n",
            "services.web.ports[0]: a port needs a `target` (the container port)",
        ),
        (
            "services:\n  web: {image: x, volumes: ['./a:b']}\n",
            "services.web.volumes[0]: the container path \"b\" must be absolute (in volume \"./a:b\";",
        ),
        (
            "services:\n  web: {image: x, volumes: [{type: bind, target: /x}]}\n",
            "services.web.volumes[0]: a bind mount needs a `source` (the host path)",
        ),
        (
            "services:\n  web: {image: x, volumes: [{type: npipe, source: a, target: /x}]}\n",
            "services.web.volumes[0].type: volume type \"npipe\" is not supported by Wharf: use volume, bind or tmpfs",
        ),
        (
            "services:\n  web: {image: x, healthcheck: {interval: 10}}\n",
            "services.web.healthcheck.interval: expected a duration string like 10s or 1m30s, found 10",
        ),
        (
            "services:\n  web: {image: x, stop_grace_period: soon}\n",
            "services.web.stop_grace_period: invalid duration \"soon\": expected a number with a unit",
        ),
        (
            "services:\n  web: {image: x, mem_limit: lots}\n",
            "services.web.mem_limit: invalid size \"lots\": expected a number of bytes with an optional unit",
        ),
        (
            "services:\n  web: {image: x, deploy: {resources: {limits: {cpus: none}}}}\n",
            "services.web.deploy.resources.limits.cpus: invalid CPU count \"none\"",
        ),
        (
            "services:\n  web: {image: x, depends_on: {db: {condition: service_ready}}}\n  db: {image: y}\n",
            "services.web.depends_on.db.condition: unknown condition \"service_ready\"",
        ),
        (
            "services:\n  web: {image: x, healthcheck: {test: [curl, x]}}\n",
            "services.web.healthcheck.test: a test list starts with NONE, CMD or CMD-SHELL",
        ),
        (
            "services:\n  web: {image: [x]}\n",
            "services.web.image: expected a string, found a list",
        ),
        (
            "services:\n  web: {image: x, tty: maybe}\n",
            "services.web.tty: expected true or false, found \"maybe\"",
        ),
        (
            "services:\n  web: {image: x, command: \"echo 'unclosed\"}\n",
            "services.web.command: unclosed single quote in \"echo 'unclosed\"",
        ),
        (
            "services:\n  web:\n",
            "services.web: the service definition is empty; give it at least an `image:` or a `build:`",
        ),
        (
            "services:\n  'bad name': {image: x}\n",
            "services.bad name: a service name may only contain letters, digits, '.', '_' and '-'",
        ),
        (
            "services:\n  web: {image: x, container_name: '-x'}\n",
            "services.web.container_name: invalid container name \"-x\"",
        ),
        (
            "services:\n  web: {image: x, dns: [resolver]}\n",
            "services.web.dns[0]: \"resolver\" is not an IP address",
        ),
        (
            "services:\n  web: {image: x}\nnetworks:\n  n: {ipam: {config: [{subnet: 10.0.0.0}]}}\n",
            "networks.n.ipam.config[0].subnet: invalid subnet \"10.0.0.0\"",
        ),
        ("networks: {}\n", "define no services; add a `services:` section"),
        ("# nothing\n", "the file is empty; a Compose file needs at least a `services:` section"),
        ("- a\n- b\n", "the top level must be a mapping of sections"),
    ];
    for (yaml, expected) in cases {
        let e = load_err(yaml);
        assert!(
            e.contains(expected),
            "for:\n{yaml}\nexpected: {expected}\ngot:      {e}"
        );
    }
}

#[test]
fn syntax_errors_name_the_file() {
    let dir = compose("services:\n  web:\n    image: app\n   bad: indent\n");
    let e = dir.load().unwrap_err();
    let ComposeError::Syntax {
        file,
        line,
        column,
        message,
    } = &e
    else {
        panic!("not a syntax error: {e}");
    };
    assert_eq!(file, &dir.path.join("compose.yaml"));
    assert_eq!((*line, *column), (4, 4));
    // The location is said once, in our words; libyaml's context stays.
    assert_eq!(
        message,
        "did not find expected key, while parsing a block mapping at line 2 column 3"
    );
    assert!(
        e.to_string().starts_with(&format!(
            "{}: YAML syntax error at line 4, column 4: ",
            file.display()
        )),
        "{e}"
    );
}

#[test]
fn dependency_order_stop_order_and_selection() {
    let project = compose(
        r#"
services:
  web: {image: x, depends_on: [api, cache]}
  api: {image: x, depends_on: {db: {condition: service_healthy}, queue: {condition: service_started}}}
  cache: {image: x}
  db: {image: x, healthcheck: {test: "pg_isready"}}
  queue: {image: x, depends_on: {migrate: {condition: service_completed_successfully}}}
  migrate: {image: x, depends_on: [db]}
  admin: {image: x, depends_on: {ghost: {required: false}}}
"#,
    )
    .load()
    .unwrap();
    assert_eq!(
        project.start_order(),
        ["admin", "cache", "db", "migrate", "queue", "api", "web"]
    );
    assert_eq!(
        project.stop_order(),
        ["web", "api", "queue", "migrate", "db", "cache", "admin"]
    );
    assert_eq!(
        project.select(&["queue"]).unwrap(),
        ["db", "migrate", "queue"]
    );
    assert_eq!(
        project.select(&["cache", "api"]).unwrap(),
        ["cache", "db", "migrate", "queue", "api"]
    );
    assert_eq!(project.select::<&str>(&[]).unwrap().len(), 7);
    assert_eq!(
        project.select(&["nope"]).unwrap_err().to_string(),
        "no such service: \"nope\" (the project's services are: admin, api, cache, db, migrate, queue, web)"
    );
    assert_eq!(
        project.services["api"].depends_on["db"].condition,
        Condition::ServiceHealthy
    );
    // The optional dependency on a missing service was dropped, with a warning.
    assert!(project.services["admin"].depends_on.is_empty());
    assert_eq!(
        warning_texts(&project),
        ["services.admin.depends_on.ghost: no such service; the optional dependency (required: false) is skipped"]
    );
}

#[test]
fn ports_and_volumes_long_syntax() {
    let dir = compose(
        r#"
services:
  web:
    image: x
    ports:
      - 3000
      - "127.0.0.1:8000-8001:80-81/udp"
      - {target: 443, published: "8443", host_ip: "::1", protocol: tcp, mode: host}
      - {target: "9000"}
    expose: [9090, "7000-7001/udp"]
    volumes:
      - type: bind
        source: ./conf
        target: /etc/app
        read_only: true
      - type: bind
        source: ~/cache
        target: /cache
        bind: {create_host_path: true}
      - {type: volume, source: data, target: /data}
      - {type: volume, target: /anon}
      - {type: tmpfs, target: /tmp}
      - /scratch
volumes:
  data: {external: true}
"#,
    );
    let project = dir.load().unwrap();
    assert!(project.warnings.is_empty(), "{:?}", project.warnings);
    let web = &project.services["web"];
    type PortRow<'a> = (Option<&'a str>, u16, Option<&'a str>, &'a str, &'a str);
    let ports: Vec<PortRow> = web
        .ports
        .iter()
        .map(|p| {
            (
                p.host_ip.as_deref(),
                p.target,
                p.published.as_deref(),
                p.protocol.as_str(),
                p.mode.as_str(),
            )
        })
        .collect();
    assert_eq!(
        ports,
        [
            (None, 3000, None, "tcp", "ingress"),
            (Some("127.0.0.1"), 80, Some("8000"), "udp", "ingress"),
            (Some("127.0.0.1"), 81, Some("8001"), "udp", "ingress"),
            (Some("::1"), 443, Some("8443"), "tcp", "host"),
            (None, 9000, None, "tcp", "ingress"),
        ]
    );
    assert_eq!(web.expose, ["9090", "7000-7001/udp"]);
    let conf = dir.path.join("conf").display().to_string();
    type MountRow<'a> = (MountKind, Option<&'a str>, &'a str, bool, Option<bool>);
    let mounts: Vec<MountRow> = web
        .volumes
        .iter()
        .map(|m| {
            (
                m.kind,
                m.source.as_deref(),
                m.target.as_str(),
                m.read_only,
                m.bind.as_ref().map(|b| b.create_host_path),
            )
        })
        .collect();
    assert_eq!(
        mounts,
        [
            (
                MountKind::Bind,
                Some(conf.as_str()),
                "/etc/app",
                true,
                Some(false)
            ),
            (
                MountKind::Bind,
                Some("/home/tester/cache"),
                "/cache",
                false,
                Some(true)
            ),
            (MountKind::Volume, Some("data"), "/data", false, None),
            (MountKind::Volume, None, "/anon", false, None),
            (MountKind::Tmpfs, None, "/tmp", false, None),
            (MountKind::Volume, None, "/scratch", false, None),
        ]
    );
    // External volumes keep their key as the engine's name.
    assert_eq!(project.volumes["data"].name, "data");
    assert!(project.volumes["data"].external);
}

#[test]
fn service_fields_are_read() {
    let dir = compose(
        r#"
services:
  web:
    build:
      context: ./app
      dockerfile: Containerfile
      args: {VERSION: "1.0", FROM_ENV: null}
      target: prod
    command: "sh -c 'echo \"hi there\"'"
    entrypoint: []
    healthcheck:
      test: ["CMD", "curl", "-f", "http://localhost"]
      interval: 30s
      timeout: 10s
      retries: 5
      start_period: 1m30s
    restart: unless-stopped
    platform: wasip2/wasm
    mem_limit: 268435456
    read_only: true
    cap_add: [NET_ADMIN]
    cap_drop: ALL
    security_opt: ["no-new-privileges:true"]
    labels: [tier=front, flag]
    container_name: my-web
    hostname: web.local
    user: 1000
    working_dir: /srv
    stop_signal: SIGINT
    stop_grace_period: 20s
    tty: true
    stdin_open: true
    init: true
    extra_hosts: ["db.local=10.0.0.5"]
    dns: 1.1.1.1
    networks:
      front:
        aliases: [www, web]
  worker:
    image: w
    runtime: io.containerd.spin.v2
networks:
  front:
    name: shared-front
    internal: true
"#,
    );
    let project = dir.load_with_env(&[("FROM_ENV", "e")]).unwrap();
    assert!(project.warnings.is_empty(), "{:?}", project.warnings);
    let web = &project.services["web"];
    let build = web.build.as_ref().unwrap();
    assert_eq!(build.context, dir.path.join("app").display().to_string());
    assert_eq!(build.dockerfile, "Containerfile");
    assert_eq!(build.target.as_deref(), Some("prod"));
    assert_eq!(
        build.args,
        BTreeMap::from([
            ("FROM_ENV".to_string(), "e".to_string()),
            ("VERSION".to_string(), "1.0".to_string()),
        ])
    );
    assert_eq!(
        web.command.as_deref().unwrap(),
        ["sh", "-c", "echo \"hi there\""]
    );
    assert_eq!(web.entrypoint.as_deref(), Some(&[][..]));
    let hc = web.healthcheck.as_ref().unwrap();
    assert_eq!(
        hc.test,
        HealthTest::Cmd(vec!["curl".into(), "-f".into(), "http://localhost".into()])
    );
    assert_eq!(hc.interval, Some(Duration::from_secs(30)));
    assert_eq!(hc.timeout, Some(Duration::from_secs(10)));
    assert_eq!(hc.retries, Some(5));
    assert_eq!(hc.start_period, Some(Duration::from_secs(90)));
    assert_eq!(web.restart, Some(Restart::UnlessStopped));
    assert_eq!(web.kind(), ServiceKind::Wasm);
    assert_eq!(web.mem_limit, Some(256 << 20));
    assert!(web.read_only && web.tty && web.stdin_open);
    assert_eq!(web.init, Some(true));
    assert_eq!(web.cap_add, ["NET_ADMIN"]);
    assert_eq!(web.cap_drop, ["ALL"]);
    assert_eq!(web.security_opt, ["no-new-privileges:true"]);
    assert_eq!(
        web.labels,
        BTreeMap::from([
            ("flag".to_string(), String::new()),
            ("tier".to_string(), "front".to_string()),
        ])
    );
    assert_eq!(project.container_name(web), "my-web");
    assert_eq!(web.hostname.as_deref(), Some("web.local"));
    assert_eq!(web.user.as_deref(), Some("1000"));
    assert_eq!(web.working_dir.as_deref(), Some("/srv"));
    assert_eq!(web.stop_signal.as_deref(), Some("SIGINT"));
    assert_eq!(web.stop_grace_period, Some(Duration::from_secs(20)));
    assert_eq!(web.extra_hosts, ["db.local:10.0.0.5"]);
    assert_eq!(web.dns, ["1.1.1.1"]);
    assert_eq!(web.networks.keys().collect::<Vec<_>>(), ["front"]);
    assert_eq!(project.network_aliases(web, "front"), ["web", "www"]);
    // `worker` names no network, so it is on `default`, which exists.
    assert_eq!(
        project.networks.keys().collect::<Vec<_>>(),
        ["default", "front"]
    );
    assert_eq!(
        project.services["worker"]
            .networks
            .keys()
            .collect::<Vec<_>>(),
        ["default"]
    );
    assert_eq!(project.networks["front"].name, "shared-front");
    assert!(project.networks["front"].internal);

    let worker = &project.services["worker"];
    assert_eq!(worker.kind(), ServiceKind::Wasm);
    assert_eq!(project.notes.len(), 1);
    assert!(project.notes[0]
        .message
        .starts_with("io.containerd.spin.v2 is a containerd Wasm shim"));

    let labels = project.container_labels(worker);
    assert_eq!(
        labels,
        BTreeMap::from([
            (labels::PROJECT.to_string(), "myapp".to_string()),
            (labels::SERVICE.to_string(), "worker".to_string()),
            (labels::CONTAINER_NUMBER.to_string(), "1".to_string()),
            (labels::ONEOFF.to_string(), "False".to_string()),
            (
                labels::WORKING_DIR.to_string(),
                dir.path.display().to_string()
            ),
            (
                labels::CONFIG_FILES.to_string(),
                dir.path.join("compose.yaml").display().to_string()
            ),
        ])
    );
    assert_eq!(
        project.container_labels(web)["tier"],
        "front",
        "the service's own labels are kept"
    );
    assert_eq!(
        project.network_labels("front"),
        BTreeMap::from([
            (labels::PROJECT.to_string(), "myapp".to_string()),
            (labels::NETWORK.to_string(), "front".to_string()),
        ])
    );
}

#[test]
fn unquoted_short_ports_are_strings_in_yaml_1_2() {
    let project =
        compose("services:\n  web:\n    image: x\n    ports:\n      - 8080:80\n      - 22:22\n")
            .load()
            .unwrap();
    let published: Vec<(Option<&str>, u16)> = project.services["web"]
        .ports
        .iter()
        .map(|p| (p.published.as_deref(), p.target))
        .collect();
    assert_eq!(published, [(Some("8080"), 80), (Some("22"), 22)]);
}

#[test]
fn unsupported_runtime_is_a_warning_and_runc_is_quiet() {
    let project = compose(
        "services:\n  a: {image: x, runtime: nvidia}\n  b: {image: x, runtime: io.containerd.runc.v2}\n",
    )
    .load()
    .unwrap();
    assert_eq!(
        warning_texts(&project),
        ["services.a.runtime: runtime \"nvidia\" is not supported by Wharf, ignored; the executor \
          is chosen from the image (or `platform: wasi/wasm`)"]
    );
    assert!(project.notes.is_empty());
    assert_eq!(project.services["a"].kind(), ServiceKind::FromImage);
    assert_eq!(project.services["b"].kind(), ServiceKind::FromImage);
}

#[test]
fn declared_default_network_and_named_volumes() {
    let project = compose(
        r#"
services:
  web: {image: x, volumes: ["cache:/c", "logs:/l"]}
networks:
  default:
    name: my-net
volumes:
  cache: {name: shared-cache}
  logs: {external: {name: old-logs}}
"#,
    )
    .load()
    .unwrap();
    assert_eq!(project.networks["default"].name, "my-net");
    assert_eq!(project.volumes["cache"].name, "shared-cache");
    assert_eq!(project.volumes["logs"].name, "old-logs");
    assert!(project.volumes["logs"].external);
    assert_eq!(
        warning_texts(&project),
        ["volumes.logs.external.name: is deprecated; write `name:` next to `external: true`"]
    );
}
