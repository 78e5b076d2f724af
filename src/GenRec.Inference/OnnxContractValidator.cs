using GenRec.Generative;
using GenRec.Models;
using Microsoft.ML.OnnxRuntime.Tensors;
using Microsoft.ML.OnnxRuntime;
using static GenRec.Models.GenerativeGraphContract;

namespace GenRec.Inference;

/// <summary>Checks loaded graphs against <see cref="GenerativeGraphContract"/> and the manifest, with errors that say what differs.</summary>
internal static class OnnxContractValidator
{
    private const int Any = -1;

    public static void Check(OnnxModelManifest m, InferenceSession context, InferenceSession step, string directory)
    {
        var kv = new[] { m.Layers, Any, m.Heads, Any, m.HeadDimension };
        var problems = new List<string>();
        Expect(problems, "context", "input", context.InputMetadata, History, TensorElementType.Int64, [Any, Any]);
        Expect(problems, "context", "output", context.OutputMetadata, ContextKeys, TensorElementType.Float, kv);
        Expect(problems, "context", "output", context.OutputMetadata, ContextValues, TensorElementType.Float, kv);
        Expect(problems, "context", "output", context.OutputMetadata, ContextBias, TensorElementType.Float, [Any, 1, 1, Any]);
        Expect(problems, "context", "output", context.OutputMetadata, FirstToken, TensorElementType.Int64, [Any]);
        ExpectStateInputs(problems, "step", step.InputMetadata, kv, [Any, Any]);
        Expect(problems, "step", "output", step.OutputMetadata, LogProbs, TensorElementType.Float, [Any, Any, m.MaxCodes]);
        Expect(problems, "step", "output", step.OutputMetadata, PresentKeys, TensorElementType.Float, kv);
        Expect(problems, "step", "output", step.OutputMetadata, PresentValues, TensorElementType.Float, kv);
        if (problems.Count > 0)
        {
            throw new InvalidDataException($"The graphs in '{directory}' do not follow the generative graph contract (docs/onnx-contract.md):{Environment.NewLine}  - {string.Join(Environment.NewLine + "  - ", problems)}");
        }
    }

    /// <summary>Checks the optional draft graph's names, types and ranks.</summary>
    public static void CheckDraft(OnnxModelManifest m, InferenceSession draft, string directory)
    {
        var kv = new[] { m.Layers, Any, m.Heads, Any, m.HeadDimension };
        var problems = new List<string>();
        ExpectStateInputs(problems, "draft", draft.InputMetadata, kv, [Any, Any, Any]);
        Expect(problems, "draft", "output", draft.OutputMetadata, DraftLogProbs, TensorElementType.Float, [Any, Any, Any, m.MaxCodes]);
        if (problems.Count > 0)
        {
            throw new InvalidDataException($"The draft graph in '{directory}' does not follow the generative graph contract (docs/onnx-contract.md):{Environment.NewLine}  - {string.Join(Environment.NewLine + "  - ", problems)}");
        }
    }

    /// <summary>Decodes one step for an empty history: output shapes (symbolic in the graph) must match the manifest, and rows must be log-probabilities.</summary>
    public static void SmokeTest(OnnxGenerativeModel model, string directory)
    {
        var m = model.Manifest;
        try
        {
            using var run = new DecodeRun(model);
            run.Context([model.EmptyHistory]);
            var scores = run.Step(0, [run.FirstToken(0)], [0], 1);
            if (scores.Length != m.MaxCodes)
            {
                throw new InvalidDataException($"The step graph in '{directory}' returned {scores.Length} scores for one beam; the manifest's widest position has {m.MaxCodes} codes.");
            }

            double total = 0;
            for (var c = 0; c < m.VocabularySizes[0]; c++)
            {
                total += Math.Exp(scores[c]);
            }

            if (double.IsNaN(total) || Math.Abs(total - 1) > 1e-3)
            {
                throw new InvalidDataException($"The step graph in '{directory}' must return log-probabilities (log-softmax over each position's codes); the first position's probabilities sum to {total:G6}.");
            }

            if (model.DraftSession is not null)
            {
                // One draft of every position, from the first: the first position's scores must be the step graph's.
                var positions = m.VocabularySizes.Length;
                var first = scores[..m.VocabularySizes[0]].ToArray();
                var tokens = new long[positions];
                tokens[0] = run.FirstToken(0);
                for (var t = 1; t < positions; t++)
                {
                    tokens[t] = model.Vocabulary.Offset(t - 1);
                }

                using var draftRun = new DecodeRun(model);
                draftRun.Context([model.EmptyHistory]);
                var drafted = draftRun.Draft(0, tokens, [0], 1, positions);
                if (drafted.Length != positions * m.MaxCodes)
                {
                    throw new InvalidDataException($"The draft graph in '{directory}' returned {drafted.Length} scores for one draft of {positions} positions; expected {positions * m.MaxCodes}.");
                }

                var gap = 0.0;
                for (var c = 0; c < first.Length; c++)
                {
                    gap = Math.Max(gap, Math.Abs(drafted[c] - first[c]));
                }

                if (!(gap <= 1e-3))
                {
                    throw new InvalidDataException($"The draft graph in '{directory}' scores the first position differently from the step graph (max |Δ log-prob| {gap:G3}): it is not the same model.");
                }
            }
        }
        catch (OnnxRuntimeException e)
        {
            throw new InvalidDataException($"The graphs in '{directory}' do not run with the shapes their manifest describes (layers {m.Layers}, heads {m.Heads}, head dimension {m.HeadDimension}, codes [{string.Join(", ", m.VocabularySizes)}]): {e.Message.Split('\n')[0]}", e);
        }
    }

    /// <summary>The inputs the step and draft graphs share (tokens of the given rank, position, context, cache, rows).</summary>
    private static void ExpectStateInputs(List<string> problems, string graph, IReadOnlyDictionary<string, NodeMetadata> inputs, int[] kv, int[] tokens)
    {
        Expect(problems, graph, "input", inputs, Token, TensorElementType.Int64, tokens);
        Expect(problems, graph, "input", inputs, Step, TensorElementType.Int64, []);
        Expect(problems, graph, "input", inputs, ContextKeys, TensorElementType.Float, kv);
        Expect(problems, graph, "input", inputs, ContextValues, TensorElementType.Float, kv);
        Expect(problems, graph, "input", inputs, ContextBias, TensorElementType.Float, [Any, 1, 1, Any]);
        Expect(problems, graph, "input", inputs, PastKeys, TensorElementType.Float, kv);
        Expect(problems, graph, "input", inputs, PastValues, TensorElementType.Float, kv);
        Expect(problems, graph, "input", inputs, BeamIndex, TensorElementType.Int64, [Any]);
    }

    private static void Expect(List<string> problems, string graph, string kind, IReadOnlyDictionary<string, NodeMetadata> metadata, string name, TensorElementType type, int[] dims)
    {
        if (!metadata.TryGetValue(name, out var node))
        {
            problems.Add($"the {graph} graph has no {kind} '{name}' (it has {string.Join(", ", metadata.Keys.Select(k => $"'{k}'"))})");
            return;
        }

        if (!node.IsTensor || node.ElementDataType != type)
        {
            problems.Add($"{graph} {kind} '{name}' is {node.ElementDataType}; the contract says {type}");
            return;
        }

        if (node.Dimensions.Length != dims.Length)
        {
            problems.Add($"{graph} {kind} '{name}' has rank {node.Dimensions.Length}; the contract says {dims.Length}");
            return;
        }

        for (var i = 0; i < dims.Length; i++)
        {
            if (dims[i] != Any && node.Dimensions[i] > 0 && node.Dimensions[i] != dims[i])
            {
                problems.Add($"{graph} {kind} '{name}' has {node.Dimensions[i]} at dimension {i}; the manifest implies {dims[i]}");
            }
        }
    }
}
