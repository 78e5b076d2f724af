using GenRec.Generative;
using GenRec.Inference;
using GenRec.Models;
using Google.Protobuf;
using TorchSharp;
using static GenRec.Models.GenerativeGraphContract;
using DataType = global::Onnx.TensorProto.Types.DataType;

namespace GenRec.Training.Onnx;

/// <summary>
/// Exports a trained generative retrieval model (decoder-only, encoder-decoder or end to end) as the ONNX graphs of
/// <see cref="GenerativeGraphContract"/> (context, step and draft) with its manifest, so that <see cref="OnnxGenerativeModel"/> serves it. The
/// graphs are written operator by operator from the TorchSharp weights (TorchSharp has no ONNX exporter).
/// </summary>
public static class TigerOnnxExporter
{
    private const float Masked = -1e9f;

    /// <summary>Writes <c>manifest.json</c>, <c>context.onnx</c>, <c>step.onnx</c> and <c>draft.onnx</c> into <paramref name="directory"/>.</summary>
    /// <param name="model">The trained model.</param>
    /// <param name="directory">The output folder; created if missing.</param>
    /// <returns>The manifest written.</returns>
    public static OnnxModelManifest Export(TigerModelArtifact model, string directory)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentException.ThrowIfNullOrEmpty(directory);
        Directory.CreateDirectory(directory);
        var weights = OnnxWeightsGraph.ReadWeights(model.Model);
        var config = model.Config;
        var shape = new Shape(config, model.Vocabulary);
        EventHistoryLayout? layout = null;
        if (config.Architecture == TigerArchitecture.EndToEnd)
        {
            // Each row's ID embedding and side features are summed once here: the graph gathers one vector per event.
            layout = new EventHistoryLayout(model.Vocabulary, config.MaxHistoryItems);
            using var noGrad = torch.no_grad();
            using var table = ((TigerEncoderDecoderModel)model.Model).RowTable().detach().cpu();
            weights["rows.table"] = (table.data<float>().ToArray(), table.shape);
        }

        var (context, step, draft) = config.Architecture switch
        {
            TigerArchitecture.DecoderOnly => (DecoderOnlyContext(shape, weights), DecoderOnlyStep(shape, weights), DecoderOnlyDraft(shape, weights)),
            TigerArchitecture.EncoderDecoder => (EncoderDecoderContext(shape, weights), EncoderDecoderStep(shape, weights), EncoderDecoderDraft(shape, weights)),
            TigerArchitecture.EndToEnd => (EndToEndContext(shape, layout!, weights), EncoderDecoderStep(shape, weights), EncoderDecoderDraft(shape, weights)),
            _ => throw new NotSupportedException($"No ONNX export for architecture {config.Architecture}."),
        };

        var contextPath = Path.Combine(directory, ContextFile);
        var stepPath = Path.Combine(directory, StepFile);
        var draftPath = Path.Combine(directory, DraftFile);
        Write(context.Build("GenRec.Training"), contextPath);
        Write(step.Build("GenRec.Training"), stepPath);
        Write(draft.Build("GenRec.Training"), draftPath);
        var manifest = new OnnxModelManifest
        {
            FormatVersion = layout is not null ? OnnxModelManifest.EventHistoryVersion : config.Actions ? OnnxModelManifest.ActionHistoryVersion : OnnxModelManifest.CurrentVersion,
            HistoryFields = layout?.Fields ?? 0,
            HistoryActions = config.Actions,
            Items = [.. model.Items.Select(i => i.Value)],
            Producer = $"GenRec.Training {typeof(TigerOnnxExporter).Assembly.GetName().Version}",
            Architecture = config.Architecture.ToString(),
            Layers = config.Layers,
            Heads = config.Heads,
            HeadDimension = config.Dimension / config.Heads,
            MaxHistoryItems = config.MaxHistoryItems,
            VocabularySizes = [.. config.VocabularySizes],
            IndexFingerprint = model.IndexFingerprint,
            IndexVersion = model.IndexVersion,
            Opset = OnnxGraphBuilder.Opset,
            Context = new OnnxGraphFile(ContextFile, OnnxModelManifest.Hash(contextPath)),
            Step = new OnnxGraphFile(StepFile, OnnxModelManifest.Hash(stepPath)),
            Draft = new OnnxGraphFile(DraftFile, OnnxModelManifest.Hash(draftPath)),
        };
        manifest.Save(directory);
        return manifest;
    }

    private static void Write(global::Onnx.ModelProto model, string path)
    {
        using var stream = File.Create(path);
        model.WriteTo(stream);
    }

    private sealed record Shape(TigerConfig Config, SemanticIdVocabulary Vocabulary)
    {
        public int D => Config.Dimension;

        public int H => Config.Heads;

        public int Hd => Config.Dimension / Config.Heads;

        public int L => Config.Layers;

        public int HistoryTokens => Vocabulary.HistoryTokens(Config.MaxHistoryItems, Config.Actions);

        public int MaxCodes => Vocabulary.Sizes.Max();

        public float Scale => 1f / MathF.Sqrt(Hd);
    }

    /// <summary>The operators of one graph, with the weights at hand.</summary>
    private sealed class Graph(string name, Dictionary<string, (float[] Data, long[] Shape)> weights, Shape shape) : TransformerGraph(name, weights, shape.D, shape.H)
    {
        private (string W, string B)? _heads;

        public string Heads(string x, Shape s) => Heads(x);

        public string Merge(string x, Shape s) => Merge(x);

        public string Block(string x, string prefix, string bias, Shape s, string qkv, string projection, out string keys, out string values, bool keysOnly = false) =>
            Block(x, prefix, bias, qkv, projection, out keys, out values, keysOnly);

        /// <summary>Positions (historyTokens − T + i) of a right-aligned [B, T] history, i over <paramref name="count"/> tokens.</summary>
        public string RightAlignedPositions(string history, int historyTokens, string count)
        {
            var start = Sub(Long(historyTokens), Scalar(Dim(history, 1)));
            return Op("Range", start, Add(start, count), Long(1));
        }

        /// <summary>Additive bias [B, 1, 1, T]: 0 on tokens, <see cref="Masked"/> on padding.</summary>
        public string PaddingBias(string tokens, out string keep)
        {
            keep = Op("Not", Op("Equal", tokens, Long(SemanticIdVocabulary.Pad)));
            return Unsqueeze(Where(keep, Float(0f), Float(Masked)), 1, 2);
        }

        /// <summary>Stacks per-layer [B, H, T, D] tensors into [L, B, H, T, D].</summary>
        public string Stack(IEnumerable<string> perLayer) => Concat(0, perLayer.Select(t => Unsqueeze(t, 0)).ToArray());

        /// <summary>The inputs the step and draft graphs share: tokens of the given dimensions, the position, the context and the cache with the rows to continue.</summary>
        public void StateInputs(Shape s, object[] tokenDims, string rows)
        {
            var dims5 = new object[] { s.L, "rows", s.H, "past", s.Hd };
            Input(Token, DataType.Int64, tokenDims);
            Input(GenerativeGraphContract.Step, DataType.Int64);
            Input(ContextKeys, DataType.Float, s.L, "batch", s.H, "context", s.Hd);
            Input(ContextValues, DataType.Float, s.L, "batch", s.H, "context", s.Hd);
            Input(ContextBias, DataType.Float, "batch", 1, 1, "context");
            Input(PastKeys, DataType.Float, dims5);
            Input(PastValues, DataType.Float, dims5);
            Input(BeamIndex, DataType.Int64, rows);
        }

        /// <summary>The common head of a step graph: inputs, the token embedding at its position, and the log-softmax output.</summary>
        public (string X, string Shape) StepInputs(Shape s, string positionTable, long positionOffset)
        {
            StateInputs(s, ["batch", "beams"], "beam_rows");
            var shapeBk = Shape(Token);
            var x = Reshape(Gather(W("tokens.weight"), Token), LongVector(-1, s.D));
            var position = Gather(W(positionTable), Add(GenerativeGraphContract.Step, Long(positionOffset)));
            return (Add(x, position), shapeBk);
        }

        public void StepOutputs(string x, string shapeBk, string norm, Shape s, List<string> keys, List<string> values)
        {
            var (w, b) = StackedHeads(s);
            var v = s.MaxCodes;
            var h = LayerNorm(x, norm);
            var logits = Add(MatMul(h, Gather(w, GenerativeGraphContract.Step)), Gather(b, GenerativeGraphContract.Step));
            var logProbs = Reshape(OpWith("LogSoftmax", [logits], Int("axis", -1)), Concat(0, shapeBk, LongVector(v)));
            Output(logProbs, LogProbs, DataType.Float, "batch", "beams", v);
            Output(Stack(keys), PresentKeys, DataType.Float, s.L, "beam_rows", s.H, "present", s.Hd);
            Output(Stack(values), PresentValues, DataType.Float, s.L, "beam_rows", s.H, "present", s.Hd);
        }

        /// <summary>
        /// The common head of a draft graph: inputs (a step's, with <c>token</c> [B, K, T]) and the drafts' token
        /// embeddings at positions step … step + T − 1, flattened to [N·T, d]; the draft shape [B, K, T]; the causal
        /// bias [T, S + T] of the drafts' own tokens over the cache they continue and themselves.
        /// </summary>
        public (string X, string ShapeBkt, string Causal) DraftInputs(Shape s, string positionTable, long positionOffset)
        {
            StateInputs(s, ["batch", "drafts", "draft"], "draft_rows");
            var shapeBkt = Shape(Token);
            var t = Scalar(Dim(Token, 2));
            var x = Reshape(Gather(W("tokens.weight"), Token), LongVector(-1, s.D));
            var first = Add(GenerativeGraphContract.Step, Long(positionOffset));
            var position = Gather(W(positionTable), Op("Range", first, Add(first, t), Long(1))); // [T, d]
            x = Reshape(Add(Reshape(x, Concat(0, LongVector(-1), Dim(Token, 2), LongVector(s.D))), position), LongVector(-1, s.D));

            // A draft token i may attend to the S cached tokens and to draft tokens 0 … i.
            var past = Scalar(Dim(PastKeys, 3));
            var rows = Unsqueeze(Op("Range", Long(0), t, Long(1)), 1);
            var columns = Unsqueeze(Op("Range", Long(0), Add(past, t), Long(1)), 0);
            var causal = Where(Op("LessOrEqual", columns, Add(rows, past)), Float(0f), Float(Masked));
            return (x, shapeBkt, causal);
        }

        /// <summary>Log-probabilities of every draft position's codes, [B, K, T, V], from the last block's output [N·T, d].</summary>
        public void DraftOutputs(string x, string shapeBkt, string norm, Shape s)
        {
            var (w, b) = StackedHeads(s);
            var v = s.MaxCodes;
            var t = Scalar(Dim(Token, 2));
            var positions = Op("Range", GenerativeGraphContract.Step, Add(GenerativeGraphContract.Step, t), Long(1));
            var h = Transpose(Reshape(LayerNorm(x, norm), Concat(0, LongVector(-1), Dim(Token, 2), LongVector(s.D))), 1, 0, 2); // [T, N, d]
            var logits = Add(MatMul(h, Gather(w, positions)), Unsqueeze(Gather(b, positions), 1)); // [T, N, V]
            var logProbs = Reshape(Transpose(OpWith("LogSoftmax", [logits], Int("axis", -1)), 1, 0, 2), Concat(0, shapeBkt, LongVector(v)));
            Output(logProbs, DraftLogProbs, DataType.Float, "batch", "drafts", "draft", v);
        }

        /// <summary>One layer's draft self-attention inputs: the query [N, H, T, D] (scaled) and the keys/values [N, H, S + T, D] of the reordered cache and the drafts' tokens.</summary>
        public (string Q, string K, string V) DraftProjections(string h, int layer, string prefix, string qkv, Shape s)
        {
            var toHeads = Concat(0, LongVector(-1), Dim(Token, 2), LongVector(s.H, s.Hd));
            string Project(int from) => Transpose(Reshape(Linear(h, $"{prefix}.{qkv}", from, s.D), toHeads), 0, 2, 1, 3);
            var q = Mul(Project(0), Float(s.Scale));
            var index = Long(layer);
            var pastK = Gather(Gather(PastKeys, index), BeamIndex);
            var pastV = Gather(Gather(PastValues, index), BeamIndex);
            return (q, Concat(2, pastK, Project(s.D)), Concat(2, pastV, Project(2 * s.D)));
        }

        /// <summary>[N, H, T, F] → [B, H, K·T, F]: a request's draft tokens side by side, to attend to its context once.</summary>
        public string ByRequest(string x, Shape s)
        {
            var split = Reshape(x, Concat(0, Dim(Token, 0), Dim(Token, 1), LongVector(s.H), Dim(Token, 2), Dim(x, 3))); // [B, K, H, T, F]
            return Reshape(Transpose(split, 0, 2, 1, 3, 4), Concat(0, Dim(Token, 0), LongVector(s.H, -1), Dim(x, 3)));
        }

        /// <summary>[B, H, K·T, F] → [N, H, T, F]: the inverse of <see cref="ByRequest"/>.</summary>
        public string ByRow(string x, Shape s)
        {
            var split = Reshape(x, Concat(0, Dim(Token, 0), LongVector(s.H), Dim(Token, 1), Dim(Token, 2), Dim(x, 3))); // [B, H, K, T, F]
            return Reshape(Transpose(split, 0, 2, 1, 3, 4), Concat(0, LongVector(-1, s.H), Dim(Token, 2), Dim(x, 3)));
        }

        /// <summary>[N, H, T, D] → [N·T, H·D]: one row per draft token.</summary>
        public string Rows(string x, Shape s) => Reshape(Transpose(x, 0, 2, 1, 3), LongVector(-1, s.D));

        /// <summary>The stacked heads (built once): [P, d, V] weights and [P, V] biases, padded to the widest position, so a graph picks position s's head by index.</summary>
        public (string W, string B) StackedHeads(Shape s)
        {
            if (_heads is { } built)
            {
                return built;
            }

            var positions = s.Vocabulary.Positions;
            var v = s.MaxCodes;
            var headW = new float[positions * s.D * v];
            var headB = new float[positions * v];
            for (var p = 0; p < positions; p++)
            {
                var (w, _) = Values($"heads.{p}.weight");
                var (b, _) = Values($"heads.{p}.bias");
                var size = s.Vocabulary.Sizes[p];
                for (var c = 0; c < v; c++)
                {
                    headB[(p * v) + c] = c < size ? b[c] : Masked;
                    for (var i = 0; i < s.D && c < size; i++)
                    {
                        headW[(p * s.D * v) + (i * v) + c] = w[(c * s.D) + i];
                    }
                }
            }

            _heads = (Weights("heads.stacked.w", headW, positions, s.D, v), Weights("heads.stacked.b", headB, positions, v));
            return _heads.Value;
        }

        /// <summary>This step's keys/values for one layer, appended to the reordered cache: [N, H, S + 1, D] each; and the query [N, H, 1, D] (scaled).</summary>
        public (string Q, string K, string V) SelfProjections(string h, int layer, string prefix, string qkv, Shape s)
        {
            var toHeads = LongVector(-1, s.H, 1, s.Hd);
            var q = Mul(Reshape(Linear(h, $"{prefix}.{qkv}", 0, s.D), toHeads), Float(s.Scale));
            var k = Reshape(Linear(h, $"{prefix}.{qkv}", s.D, s.D), toHeads);
            var v = Reshape(Linear(h, $"{prefix}.{qkv}", 2 * s.D, s.D), toHeads);
            var index = Long(layer);
            var pastK = Gather(Gather(PastKeys, index), BeamIndex);
            var pastV = Gather(Gather(PastValues, index), BeamIndex);
            return (q, Concat(2, pastK, k), Concat(2, pastV, v));
        }
    }

    private static Graph DecoderOnlyContext(Shape s, Dictionary<string, (float[], long[])> weights)
    {
        var g = new Graph("genrec_decoder_only_context", weights, s);
        g.Input(History, DataType.Int64, "batch", "history");
        var last = g.Long(-1);
        var first = g.Gather(History, last, 1);
        var prefix = g.OpWith("Slice", [History, g.LongVector(0), g.LongVector(-1), g.LongVector(1)]);
        var count = g.Scalar(g.Dim(prefix, 1));
        var x = g.Add(g.Gather(g.W("tokens.weight"), prefix), g.Gather(g.W("positions.weight"), g.RightAlignedPositions(History, s.HistoryTokens, count)));
        var contextBias = g.PaddingBias(prefix, out var keep);

        // Causal, padding keys masked except a token's own (as TigerModel's mask): [B, 1, C, C].
        var range = g.Op("Range", g.Long(0), count, g.Long(1));
        var column = g.Unsqueeze(range, 0);
        var row = g.Unsqueeze(range, 1);
        var causal = g.Op("LessOrEqual", column, row);
        var diagonal = g.Op("Equal", column, row);
        var allowed = g.Op("And", g.Unsqueeze(causal, 0), g.Op("Or", g.Unsqueeze(keep, 1), g.Unsqueeze(diagonal, 0)));
        var bias = g.Unsqueeze(g.Where(allowed, g.Float(0f), g.Float(Masked)), 1);
        var keys = new List<string>();
        var values = new List<string>();
        for (var i = 0; i < s.L; i++)
        {
            // The last block's keys/values are all the cache needs: its attention and MLP are not computed.
            x = g.Block(x, $"blocks.{i}", bias, s, "qkv", "proj", out var k, out var v, keysOnly: i == s.L - 1);
            keys.Add(k);
            values.Add(v);
        }

        WriteContextOutputs(g, s, keys, values, contextBias, first);
        return g;
    }

    private static Graph EncoderDecoderContext(Shape s, Dictionary<string, (float[], long[])> weights)
    {
        var g = new Graph("genrec_encoder_decoder_context", weights, s);
        g.Input(History, DataType.Int64, "batch", "history");
        var count = g.Scalar(g.Dim(History, 1));
        var x = g.Add(g.Gather(g.W("tokens.weight"), History), g.Gather(g.W("encoderPositions.weight"), g.RightAlignedPositions(History, s.HistoryTokens, count)));
        var contextBias = g.PaddingBias(History, out var keep);
        return EncoderOutputs(g, s, x, keep, contextBias, count, g.Op("Expand", g.LongVector(SemanticIdVocabulary.Bos), g.Dim(History, 0)));
    }

    /// <summary>
    /// End to end: the history is [B, E·F] (E events of F fields, right-aligned, whole padding events trimmed); each
    /// event's vector is its row's (ID embedding + side features, summed at export), its semantic-ID tokens', its
    /// action's and its age's embeddings; a learned start slot goes first, so an empty history still has a context.
    /// </summary>
    private static Graph EndToEndContext(Shape s, EventHistoryLayout layout, Dictionary<string, (float[], long[])> weights)
    {
        var g = new Graph("genrec_end_to_end_context", weights, s);
        g.Input(History, DataType.Int64, "batch", "history");
        var slots = g.Reshape(History, g.LongVector(0, -1, layout.Fields)); // [B, E, F]
        string Field(int f) => g.Gather(slots, g.Long(f), 2); // [B, E]
        var x = g.Add(g.Gather(g.W("rows.table"), Field(EventHistoryLayout.RowField)), g.Add(g.Gather(g.W("actions.weight"), Field(layout.ActionField)), g.Gather(g.W("ages.weight"), Field(layout.AgeField))));
        for (var p = 0; p < s.Vocabulary.Positions; p++)
        {
            x = g.Add(x, g.Gather(g.W("tokens.weight"), Field(EventHistoryLayout.CodeField + p)));
        }

        // The start slot sits at position 0 and the events right-aligned after it, at (1 + MaxHistoryItems − E) … MaxHistoryItems, however much padding was trimmed.
        var batch = g.Dim(History, 0);
        var events = g.Scalar(g.Dim(slots, 1));
        var top = g.Long(s.Config.MaxHistoryItems + 1);
        var positions = g.Concat(0, g.LongVector(0), g.Op("Range", g.Sub(top, events), top, g.Long(1)));
        var start = g.Op("Expand", g.W("start"), g.Concat(0, batch, g.LongVector(1, s.D)));
        x = g.Add(g.Concat(1, start, x), g.Gather(g.W("encoderPositions.weight"), positions)); // [B, 1 + E, d]
        var count = g.Scalar(g.Dim(x, 1));

        // The start slot is always kept; an event is kept when it holds a semantic ID (padding events are all zero).
        var marker = g.Op("Expand", g.Longs([1], 1, 1), g.Concat(0, batch, g.LongVector(1)));
        var contextBias = g.PaddingBias(g.Concat(1, marker, Field(EventHistoryLayout.CodeField)), out var keep);
        return EncoderOutputs(g, s, x, keep, contextBias, count, g.Op("Expand", g.LongVector(SemanticIdVocabulary.Bos), batch));
    }

    /// <summary>An encoder over embedded context x [B, C, d] (bidirectional, padding masked), then the decoder's cross-attention keys/values.</summary>
    private static Graph EncoderOutputs(Graph g, Shape s, string x, string keep, string contextBias, string count, string first)
    {
        var range = g.Op("Range", g.Long(0), count, g.Long(1));
        var diagonal = g.Op("Equal", g.Unsqueeze(range, 0), g.Unsqueeze(range, 1));
        var bias = g.Unsqueeze(g.Where(g.Op("Or", g.Unsqueeze(keep, 1), g.Unsqueeze(diagonal, 0)), g.Float(0f), g.Float(Masked)), 1);
        for (var i = 0; i < s.L; i++)
        {
            x = g.Block(x, $"encoder.{i}", bias, s, "qkv", "proj", out _, out _);
        }

        var memory = g.LayerNorm(x, "encoderNorm");
        var keys = new List<string>();
        var values = new List<string>();
        for (var i = 0; i < s.L; i++)
        {
            keys.Add(g.Heads(g.Linear(memory, $"decoder.{i}.crossKv", 0, s.D), s));
            values.Add(g.Heads(g.Linear(memory, $"decoder.{i}.crossKv", s.D, s.D), s));
        }

        WriteContextOutputs(g, s, keys, values, contextBias, first);
        return g;
    }

    private static void WriteContextOutputs(Graph g, Shape s, List<string> keys, List<string> values, string contextBias, string first)
    {
        g.Output(g.Stack(keys), ContextKeys, DataType.Float, s.L, "batch", s.H, "context", s.Hd);
        g.Output(g.Stack(values), ContextValues, DataType.Float, s.L, "batch", s.H, "context", s.Hd);
        g.Output(contextBias, ContextBias, DataType.Float, "batch", 1, 1, "context");
        g.Output(first, FirstToken, DataType.Int64, "batch");
    }

    private static Graph DecoderOnlyStep(Shape s, Dictionary<string, (float[], long[])> weights)
    {
        var g = new Graph("genrec_decoder_only_step", weights, s);

        // Step s reads the token at position (history tokens − 1) + s: the history's last token, then the codes.
        var (x, shapeBk) = g.StepInputs(s, "positions.weight", s.HistoryTokens - 1);
        var bkhd = g.Concat(0, shapeBk, g.LongVector(s.H, s.Hd));
        var keys = new List<string>();
        var values = new List<string>();
        for (var i = 0; i < s.L; i++)
        {
            var prefix = $"blocks.{i}";
            var (q, k, v) = g.SelfProjections(g.LayerNorm(x, $"{prefix}.ln1"), i, prefix, "qkv", s);
            keys.Add(k);
            values.Add(v);
            var contextKeys = g.Gather(ContextKeys, g.Long(i));
            var contextValues = g.Gather(ContextValues, g.Long(i));

            // One softmax over the context (shared by a request's beams) and the beam's own tokens.
            var byRequest = g.Transpose(g.Reshape(q, bkhd), 0, 2, 1, 3); // [B, H, K, D]
            var contextScores = g.Add(g.MatMul(byRequest, g.Transpose(contextKeys, 0, 1, 3, 2)), ContextBias); // [B, H, K, C]
            var ownScores = g.MatMul(q, g.Transpose(k, 0, 1, 3, 2)); // [N, H, 1, S+1]
            var ownByRequest = g.Transpose(g.Reshape(ownScores, g.Concat(0, shapeBk, g.LongVector(s.H, -1))), 0, 2, 1, 3); // [B, H, K, S+1]
            var p = g.Softmax(g.Concat(3, contextScores, ownByRequest));
            var sizes = g.Concat(0, g.Dim(contextKeys, 2), g.Dim(k, 2));
            var parts = g.OpMany("Split", [p, sizes], 2, OnnxGraphBuilder.Int("axis", 3));
            var fromContext = g.MatMul(parts[0], contextValues); // [B, H, K, D]
            var ownP = g.Reshape(g.Transpose(parts[1], 0, 2, 1, 3), g.LongVector(-1, s.H, 1, 0)); // [N, H, 1, S+1]
            var fromOwn = g.Transpose(g.Reshape(g.MatMul(ownP, v), bkhd), 0, 2, 1, 3); // [B, H, K, D]
            var attended = g.Reshape(g.Transpose(g.Add(fromContext, fromOwn), 0, 2, 1, 3), g.LongVector(-1, s.D));
            x = g.Add(x, g.Linear(attended, $"{prefix}.proj"));
            x = g.Add(x, g.Mlp(x, prefix, "ln2"));
        }

        g.StepOutputs(x, shapeBk, "norm", s, keys, values);
        return g;
    }

    private static Graph EncoderDecoderStep(Shape s, Dictionary<string, (float[], long[])> weights)
    {
        var g = new Graph("genrec_encoder_decoder_step", weights, s);
        var (x, shapeBk) = g.StepInputs(s, "decoderPositions.weight", 0);
        var bkhd = g.Concat(0, shapeBk, g.LongVector(s.H, s.Hd));
        var keys = new List<string>();
        var values = new List<string>();
        for (var i = 0; i < s.L; i++)
        {
            var prefix = $"decoder.{i}";
            var (q, k, v) = g.SelfProjections(g.LayerNorm(x, $"{prefix}.ln1"), i, prefix, "selfQkv", s);
            keys.Add(k);
            values.Add(v);
            var own = g.MatMul(g.Softmax(g.MatMul(q, g.Transpose(k, 0, 1, 3, 2))), v); // [N, H, 1, D]
            x = g.Add(x, g.Linear(g.Reshape(own, g.LongVector(-1, s.D)), $"{prefix}.selfProj"));

            var cq = g.Transpose(g.Reshape(g.Mul(g.Linear(g.LayerNorm(x, $"{prefix}.ln2"), $"{prefix}.crossQ"), g.Float(s.Scale)), bkhd), 0, 2, 1, 3); // [B, H, K, D]
            var scores = g.Add(g.MatMul(cq, g.Transpose(g.Gather(ContextKeys, g.Long(i)), 0, 1, 3, 2)), ContextBias);
            var crossed = g.MatMul(g.Softmax(scores), g.Gather(ContextValues, g.Long(i))); // [B, H, K, D]
            x = g.Add(x, g.Linear(g.Reshape(g.Transpose(crossed, 0, 2, 1, 3), g.LongVector(-1, s.D)), $"{prefix}.crossProj"));
            x = g.Add(x, g.Mlp(x, prefix, "ln3"));
        }

        g.StepOutputs(x, shapeBk, "decoderNorm", s, keys, values);
        return g;
    }

    /// <summary>
    /// The decoder-only draft graph: T tokens per draft row, continuing a step's cache, scored at every position in one
    /// run (each attends to the context, the cached tokens and the draft's earlier tokens).
    /// </summary>
    private static Graph DecoderOnlyDraft(Shape s, Dictionary<string, (float[], long[])> weights)
    {
        var g = new Graph("genrec_decoder_only_draft", weights, s);
        var (x, shapeBkt, causal) = g.DraftInputs(s, "positions.weight", s.HistoryTokens - 1);
        for (var i = 0; i < s.L; i++)
        {
            var prefix = $"blocks.{i}";
            var (q, k, v) = g.DraftProjections(g.LayerNorm(x, $"{prefix}.ln1"), i, prefix, "qkv", s);
            var contextKeys = g.Gather(ContextKeys, g.Long(i));
            var contextValues = g.Gather(ContextValues, g.Long(i));

            // As the step graph: one softmax over the request's context and the row's own tokens (causal within the draft).
            var contextScores = g.Add(g.MatMul(g.ByRequest(q, s), g.Transpose(contextKeys, 0, 1, 3, 2)), ContextBias); // [B, H, K·T, C]
            var ownScores = g.Add(g.MatMul(q, g.Transpose(k, 0, 1, 3, 2)), causal); // [N, H, T, S+T]
            var p = g.Softmax(g.Concat(3, contextScores, g.ByRequest(ownScores, s)));
            var sizes = g.Concat(0, g.Dim(contextKeys, 2), g.Dim(k, 2));
            var parts = g.OpMany("Split", [p, sizes], 2, OnnxGraphBuilder.Int("axis", 3));
            var fromContext = g.ByRow(g.MatMul(parts[0], contextValues), s); // [N, H, T, D]
            var fromOwn = g.MatMul(g.ByRow(parts[1], s), v); // [N, H, T, D]
            x = g.Add(x, g.Linear(g.Rows(g.Add(fromContext, fromOwn), s), $"{prefix}.proj"));
            x = g.Add(x, g.Mlp(x, prefix, "ln2"));
        }

        g.DraftOutputs(x, shapeBkt, "norm", s);
        return g;
    }

    /// <summary>The encoder-decoder (and end-to-end) draft graph: causal self-attention over the cache and the draft, cross-attention to the context.</summary>
    private static Graph EncoderDecoderDraft(Shape s, Dictionary<string, (float[], long[])> weights)
    {
        var g = new Graph("genrec_encoder_decoder_draft", weights, s);
        var (x, shapeBkt, causal) = g.DraftInputs(s, "decoderPositions.weight", 0);
        for (var i = 0; i < s.L; i++)
        {
            var prefix = $"decoder.{i}";
            var (q, k, v) = g.DraftProjections(g.LayerNorm(x, $"{prefix}.ln1"), i, prefix, "selfQkv", s);
            var own = g.MatMul(g.Softmax(g.Add(g.MatMul(q, g.Transpose(k, 0, 1, 3, 2)), causal)), v); // [N, H, T, D]
            x = g.Add(x, g.Linear(g.Rows(own, s), $"{prefix}.selfProj"));

            var toHeads = g.Concat(0, g.LongVector(-1), g.Dim(Token, 2), g.LongVector(s.H, s.Hd));
            var cq = g.Transpose(g.Reshape(g.Mul(g.Linear(g.LayerNorm(x, $"{prefix}.ln2"), $"{prefix}.crossQ"), g.Float(s.Scale)), toHeads), 0, 2, 1, 3); // [N, H, T, D]
            var scores = g.Add(g.MatMul(g.ByRequest(cq, s), g.Transpose(g.Gather(ContextKeys, g.Long(i)), 0, 1, 3, 2)), ContextBias);
            var crossed = g.ByRow(g.MatMul(g.Softmax(scores), g.Gather(ContextValues, g.Long(i))), s); // [N, H, T, D]
            x = g.Add(x, g.Linear(g.Rows(crossed, s), $"{prefix}.crossProj"));
            x = g.Add(x, g.Mlp(x, prefix, "ln3"));
        }

        g.DraftOutputs(x, shapeBkt, "decoderNorm", s);
        return g;
    }
}
