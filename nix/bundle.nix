# The agentix bundle image built with Nix: the same /nix/runtime layout as the
# portable `agentix build` (see bundle/layout.ts), but node, its libc and the
# tools come from nixpkgs, and the project's production dependencies are built
# from its package-lock.json (importNpmLock: no hash to maintain).
#
# `agentix build --nix` prepares the inputs (compiled run dir, bundled runtime)
# and calls:
#   nix-build nix/bundle.nix --arg appDir DIR --arg runtimeDir DIR \
#     --arg projectDir DIR --argstr name NAME --argstr tag TAG
# The result is a script that streams a docker-archive (streamLayeredImage).
{ pkgs ? import <nixpkgs> { }
  # compiled run dir: manifest.json, package.json, modules/
, appDir
  # bundled runtime: server-main.js, worker-main.js, their chunks/, sandbox-env.js
, runtimeDir
  # the project: package.json and package-lock.json
, projectDir
, name ? "agentix-bundle"
, tag ? "latest"
, tools ? [ "bash" "coreutils" ]
}:
let
  inherit (pkgs) lib;
  nodejs = pkgs.nodejs_20;

  # same names as bundle/tools.ts
  toolPackages = {
    bash = pkgs.bashInteractive;
    coreutils = pkgs.coreutils;
    grep = pkgs.gnugrep;
    sed = pkgs.gnused;
    findutils = pkgs.findutils;
    diffutils = pkgs.diffutils;
    tar = pkgs.gnutar;
    gzip = pkgs.gzip;
    patch = pkgs.gnupatch;
    procps = pkgs.procps;
    git = pkgs.git;
  };
  unknownTools = lib.filter (t: !(toolPackages ? ${t})) tools;
  toolDrvs =
    assert lib.assertMsg (unknownTools == [ ])
      "agentix: unknown tools ${lib.concatStringsSep ", " unknownTools}; known: ${lib.concatStringsSep ", " (lib.attrNames toolPackages)}";
    map (t: toolPackages.${t}) tools;

  hasLock = builtins.pathExists (projectDir + "/package-lock.json");
  # production closure only; agentix itself is provided by the runtime
  nodeModules =
    if hasLock then
      pkgs.importNpmLock.buildNodeModules {
        npmRoot = projectDir;
        inherit nodejs;
        derivationArgs.npmFlags = [ "--omit=dev" "--ignore-scripts" ];
      }
    else null;

  runtimeTree = pkgs.runCommand "agentix-runtime-${name}" { } ''
    mkdir -p $out/bin $out/app/runtime
    ln -s ${nodejs}/bin/node $out/bin/node
    ${lib.concatMapStringsSep "\n" (d: ''
      for f in ${d}/bin/*; do ln -sf "$f" $out/bin/; done
    '') toolDrvs}
    cp ${runtimeDir}/server-main.js ${runtimeDir}/worker-main.js ${runtimeDir}/sandbox-env.js $out/app/runtime/
    cp -r ${runtimeDir}/chunks $out/app/runtime/chunks
    echo '{"type":"module"}' > $out/app/runtime/package.json
    cp ${appDir}/manifest.json ${appDir}/package.json $out/app/
    cp -r ${appDir}/modules $out/app/modules
    ${lib.optionalString (nodeModules != null) "ln -s ${nodeModules}/node_modules $out/app/node_modules"}
  '';
in
pkgs.dockerTools.streamLayeredImage {
  inherit name tag;
  # /nix/store holds the closure; /nix/runtime points into it
  extraCommands = ''
    mkdir -p nix
    ln -s ${runtimeTree} nix/runtime
  '';
  config = {
    Env = [ "PATH=/nix/runtime/bin" ];
    Volumes = { "/nix" = { }; };
    Labels = {
      "agentix.bundle-image" = "1";
      "agentix.tools" = lib.concatStringsSep "," tools;
      "agentix.built-with" = "nix";
    };
  };
}
