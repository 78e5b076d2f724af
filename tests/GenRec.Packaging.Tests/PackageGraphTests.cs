using System.Text.RegularExpressions;
using System.Xml.Linq;
using GenRec.TestSupport;

namespace GenRec.Packaging.Tests;

/// <summary>
/// The packages' dependency graph in docs/architecture.md is the rule: every package of the SDK is in it, references only
/// the packages it lists, and only it references the native or infrastructure packages (TorchSharp, ONNX Runtime, ML.NET,
/// Orleans, Redis) written beside it in brackets. A package that gains a reference the graph does not allow fails here.
/// </summary>
public sealed partial class PackageGraphTests
{
    // Package ids whose direct reference is part of the architecture (what a consumer ends up loading).
    private static readonly string[] Guarded = ["TorchSharp", "libtorch", "Microsoft.ML", "Microsoft.Orleans", "StackExchange.Redis", "OnnxSharp", "SentenceTransformers"];

    private sealed record Rule(HashSet<string> References, HashSet<string> Packages);

    [GeneratedRegex(@"^(?<name>GenRec(\.[A-Za-z]+)*)\s*(→\s*(?<refs>[^\[]*))?(\[(?<packages>[^\]]*)\])?\s*$")]
    private static partial Regex RuleLine();

    /// <summary>The graph: the fenced block that follows the "dependency-graph" marker in docs/architecture.md.</summary>
    private static Dictionary<string, Rule> Graph()
    {
        var text = File.ReadAllLines(Path.Combine(TestData.RepositoryRoot, "docs", "architecture.md"));
        var start = Array.FindIndex(text, l => l.Contains("<!-- dependency-graph -->", StringComparison.Ordinal));
        Assert.True(start >= 0, "docs/architecture.md has no <!-- dependency-graph --> block.");
        var rules = new Dictionary<string, Rule>(StringComparer.Ordinal);
        foreach (var line in text.Skip(start + 2).TakeWhile(l => !l.StartsWith("```", StringComparison.Ordinal)).Where(l => l.Trim().Length > 0))
        {
            var m = RuleLine().Match(line.Trim());
            Assert.True(m.Success, $"A line of the dependency graph does not read as 'Package → references [packages]': {line}");
            static HashSet<string> List(Group g) => g.Value.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries).ToHashSet(StringComparer.Ordinal);
            rules.Add(m.Groups["name"].Value, new Rule(List(m.Groups["refs"]), List(m.Groups["packages"])));
        }

        return rules;
    }

    /// <summary>Every packable project of the SDK (src/ and adapters/), with its direct project and package references.</summary>
    private static IEnumerable<(string Name, string[] References, string[] Packages)> Projects()
    {
        foreach (var folder in new[] { "src", "adapters" })
        {
            foreach (var file in Directory.GetFiles(Path.Combine(TestData.RepositoryRoot, folder), "*.csproj", SearchOption.AllDirectories))
            {
                var project = XDocument.Load(file);
                var items = project.Descendants().ToArray();
                var references = items.Where(e => e.Name.LocalName == "ProjectReference")
                    .Select(e => Path.GetFileNameWithoutExtension(e.Attribute("Include")!.Value.Replace('\\', '/'))).ToArray();
                var packages = items.Where(e => e.Name.LocalName == "PackageReference" && e.Attribute("ExcludeAssets")?.Value != "all")
                    .Select(e => e.Attribute("Include")!.Value).ToArray();
                yield return (Path.GetFileNameWithoutExtension(file), references, packages);
            }
        }
    }

    private static bool IsGuarded(string package) => Guarded.Any(g => package.StartsWith(g, StringComparison.OrdinalIgnoreCase));

    [Fact]
    public void Every_package_is_in_the_graph_and_every_node_of_the_graph_is_a_package()
    {
        var graph = Graph();
        var projects = Projects().Select(p => p.Name).ToHashSet(StringComparer.Ordinal);

        Assert.Empty(projects.Except(graph.Keys).Order());
        Assert.Empty(graph.Keys.Except(projects).Order());
        Assert.Empty(graph.Values.SelectMany(r => r.References).Except(graph.Keys).Order());
    }

    [Fact]
    public void No_package_references_what_the_graph_does_not_allow()
    {
        var graph = Graph();
        var broken = new List<string>();
        foreach (var (name, references, packages) in Projects())
        {
            if (!graph.TryGetValue(name, out var rule))
            {
                continue;
            }

            broken.AddRange(references.Where(r => !rule.References.Contains(r)).Select(r => $"{name} references {r}, which the graph does not allow"));
            broken.AddRange(packages.Where(p => IsGuarded(p) && !rule.Packages.Contains(p)).Select(p => $"{name} references the package {p}, which the graph does not list beside it"));
        }

        Assert.Empty(broken);
    }

    [Fact]
    public void The_graph_has_no_cycle_and_keeps_the_layers_apart()
    {
        var graph = Graph();
        var closure = graph.Keys.ToDictionary(k => k, k => Reachable(graph, k), StringComparer.Ordinal);

        Assert.All(closure, c => Assert.DoesNotContain(c.Key, c.Value));
        Assert.Empty(closure["GenRec.Abstractions"]);
        Assert.DoesNotContain("GenRec.Inference", closure["GenRec.Training"]);
        Assert.DoesNotContain("GenRec.Inference", closure["GenRec.Models"]);
        Assert.DoesNotContain(closure["GenRec"], r => r.StartsWith("GenRec.Orleans", StringComparison.Ordinal));
        Assert.DoesNotContain("GenRec.Orleans.Redis", closure["GenRec.Orleans"]);
        Assert.DoesNotContain(closure["GenRec.Models"].Append("GenRec.Models"), n => graph[n].Packages.Count > 0);
    }

    private static HashSet<string> Reachable(Dictionary<string, Rule> graph, string from)
    {
        var seen = new HashSet<string>(StringComparer.Ordinal);
        var stack = new Stack<string>(graph[from].References);
        while (stack.TryPop(out var next))
        {
            if (seen.Add(next) && graph.TryGetValue(next, out var rule) && !next.Equals(from, StringComparison.Ordinal))
            {
                foreach (var r in rule.References)
                {
                    stack.Push(r);
                }
            }
        }

        return seen;
    }
}
