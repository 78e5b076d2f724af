#!/usr/bin/env bash
# The proof that "add a NuGet package" works: packs every SDK package into a local folder feed, creates a fresh
# console project outside the solution (no Directory.Build.props, no project references), adds the GenRec package
# from that feed plus the ONNX Runtime native package an application picks, and gets a recommendation out of it.
# Usage: scripts/package-check.sh <model folder (genrec export)> <index.sid> [work dir]
set -euo pipefail
cd "$(dirname "$0")/.."
model=$(realpath "$1"); index=$(realpath "$2")
work=${3:-$(mktemp -d /tmp/genrec-package-check.XXXXXX)}
version="0.1.0-check.$(date +%s)"
feed="$work/feed"; app="$work/app"
mkdir -p "$feed" "$app"
echo "== pack $version"
# Only the SDK packages (src/, adapters/): a solution filter keeps tests and samples out of the Release build.
projects=$(ls src/*/*.csproj adapters/*/*.csproj | sed 's/.*/"&"/' | paste -sd, -)
echo "{\"solution\": {\"path\": \"$PWD/GenRec.Sdk.sln\", \"projects\": [$projects]}}" > "$work/packages.slnf"
dotnet pack "$work/packages.slnf" -c Release -o "$feed" -p:Version="$version" -v q -nologo 2>&1 | grep -E "error" || true
ls "$feed"/*.nupkg | wc -l | xargs echo "packages:"
cat > "$app/nuget.config" <<XML
<?xml version="1.0" encoding="utf-8"?>
<configuration>
  <packageSources>
    <clear />
    <add key="local" value="$feed" />
    <add key="nuget.org" value="https://api.nuget.org/v3/index.json" />
  </packageSources>
  <packageSourceMapping>
    <packageSource key="local"><package pattern="GenRec*" /></packageSource>
    <packageSource key="nuget.org"><package pattern="*" /></packageSource>
  </packageSourceMapping>
</configuration>
XML
cat > "$app/app.csproj" <<XML
<Project Sdk="Microsoft.NET.Sdk">
  <PropertyGroup>
    <OutputType>Exe</OutputType>
    <TargetFramework>net10.0</TargetFramework>
    <RuntimeIdentifier>linux-x64</RuntimeIdentifier>
    <SelfContained>false</SelfContained>
    <ImplicitUsings>enable</ImplicitUsings>
    <Nullable>enable</Nullable>
    <NoWarn>NU1603;NU1605</NoWarn>
  </PropertyGroup>
  <ItemGroup>
    <PackageReference Include="GenRec" Version="$version" />
    <PackageReference Include="Microsoft.ML.OnnxRuntime.Gpu.Linux" Version="1.31.0" />
    <PackageReference Include="Microsoft.Extensions.DependencyInjection" Version="10.0.5" />
  </ItemGroup>
</Project>
XML
cat > "$app/Program.cs" <<'CS'
using GenRec;
using GenRec.Generative;
using GenRec.SemanticIds;
using Microsoft.Extensions.DependencyInjection;

var services = new ServiceCollection();
services.AddGenRec().AddSemanticIdIndex(args[1]).AddOnnxModel(args[0]).AddGenerativeRecall();
using var provider = services.BuildServiceProvider();
var recall = provider.GetRequiredService<GenerativeRecall>();
var index = provider.GetRequiredService<SemanticIdIndex>();
var user = new UserId(1);
var history = index.Items.Take(5).Select((item, i) => new UserEvent(user, item, ActionType.Click, DateTimeOffset.UnixEpoch.AddDays(i))).ToArray();
var items = await recall.RecallAsync(new RecommendationRequest(user, history, 10, DateTimeOffset.UtcNow), 10);
Console.WriteLine($"recommended: {string.Join(", ", items.Select(c => c.Item.Value))}");
return items.Count == 10 ? 0 : 1;
CS
echo "== restore, build and run a fresh project from the feed"
(cd "$app" && dotnet run -v q -- "$model" "$index") 2>&1 | grep -v -E "onnxruntime|^\[m|^$"
