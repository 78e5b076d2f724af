namespace GenRec.Models;

/// <summary>
/// The names of the two ONNX graphs a generative retrieval model is served as, whatever trained it (GenRec's
/// exporter, or <c>torch.onnx.export</c> of your own PyTorch model). Dimensions: B requests in a batch, K beams per
/// request, N = B·K beam rows, T history tokens, C context tokens, S generated tokens so far, L layers, H heads,
/// D head width, V the widest semantic-ID position's codes. docs/onnx-contract.md is the full specification.
/// </summary>
/// <remarks>
/// <para><b>context graph</b> (<see cref="ContextFile"/>): reads the histories once.</para>
/// <list type="bullet">
/// <item><c>history</c> int64 [B, T]: tokens as <see cref="Generative.SemanticIdVocabulary.EncodeHistory(System.Collections.Generic.IReadOnlyList{UserEvent}, SemanticIds.SemanticIdIndex, int, bool, out int)"/> writes them, right-aligned (left padding may be trimmed, to at least two tokens).</item>
/// <item>→ <c>context_keys</c>, <c>context_values</c> float32 [L, B, H, C, D]: what every decoding step attends to (an encoder-decoder's cross-attention keys/values; a decoder-only model's prefix cache).</item>
/// <item>→ <c>context_bias</c> float32 [B, 1, 1, C]: 0 where a context token may be attended to, a large negative number for padding.</item>
/// <item>→ <c>first_token</c> int64 [B]: the token step 0 reads (BOS for an encoder-decoder, the history's last token for a decoder-only model).</item>
/// </list>
/// <para><b>step graph</b> (<see cref="StepFile"/>): one semantic-ID position for every beam of every request.</para>
/// <list type="bullet">
/// <item><c>token</c> int64 [B, K]: each beam's input token (step 0: <c>first_token</c>; step s: the vocabulary token of the code chosen at s−1).</item>
/// <item><c>step</c> int64 scalar: the position s whose codes are scored.</item>
/// <item><c>context_keys</c>, <c>context_values</c>, <c>context_bias</c>: the context graph's outputs, unchanged.</item>
/// <item><c>past_keys</c>, <c>past_values</c> float32 [L, N', H, S, D]: the previous step's <c>present_*</c> (S = 0 at step 0).</item>
/// <item><c>beam_index</c> int64 [N]: for each beam row, the row of <c>past_*</c> it continues (the graph gathers the cache: reordering per beam happens where the cache lives).</item>
/// <item>→ <c>log_probs</c> float32 [B, K, V]: log-softmax over position s's codes (columns past that position's size are ignored).</item>
/// <item>→ <c>present_keys</c>, <c>present_values</c> float32 [L, N, H, S + 1, D].</item>
/// </list>
/// <para><b>draft graph</b> (<see cref="DraftFile"/>, optional): T positions of many drafts in one run (parallel decoding).</para>
/// <list type="bullet">
/// <item><c>token</c> int64 [B, K, T]: each draft's input tokens (what T successive steps would read), K drafts per request.</item>
/// <item><c>step</c>, <c>context_*</c>, <c>past_*</c>, <c>beam_index</c> [N]: as the step graph (the drafts continue a step's cache; position s is the first scored).</item>
/// <item>→ <c>draft_log_probs</c> float32 [B, K, T, V]: log-softmax over the codes of positions s … s + T − 1, each token attending causally to the cache and the draft's earlier tokens.</item>
/// </list>
/// </remarks>
public static class GenerativeGraphContract
{
    /// <summary>File name of the context graph in a model folder.</summary>
    public const string ContextFile = "context.onnx";

    /// <summary>File name of the step graph in a model folder.</summary>
    public const string StepFile = "step.onnx";

    /// <summary>File name of the manifest in a model folder.</summary>
    public const string ManifestFile = "manifest.json";

    /// <summary>Context graph input: history tokens.</summary>
    public const string History = "history";

    /// <summary>Context keys (context output, step input).</summary>
    public const string ContextKeys = "context_keys";

    /// <summary>Context values (context output, step input).</summary>
    public const string ContextValues = "context_values";

    /// <summary>Additive attention bias over the context (context output, step input).</summary>
    public const string ContextBias = "context_bias";

    /// <summary>The token step 0 reads (context output).</summary>
    public const string FirstToken = "first_token";

    /// <summary>Step input: each beam's input token.</summary>
    public const string Token = "token";

    /// <summary>Step input: the code position scored.</summary>
    public const string Step = "step";

    /// <summary>Step input: cached self-attention keys of the tokens generated so far.</summary>
    public const string PastKeys = "past_keys";

    /// <summary>Step input: cached self-attention values of the tokens generated so far.</summary>
    public const string PastValues = "past_values";

    /// <summary>Step input: which cache row each beam continues.</summary>
    public const string BeamIndex = "beam_index";

    /// <summary>Step output: log-probabilities of the position's codes.</summary>
    public const string LogProbs = "log_probs";

    /// <summary>Step output: the cache with this step's keys appended.</summary>
    public const string PresentKeys = "present_keys";

    /// <summary>Step output: the cache with this step's values appended.</summary>
    public const string PresentValues = "present_values";

    /// <summary>File name of the optional draft graph in a model folder (<see cref="OnnxModelManifest.Draft"/>).</summary>
    public const string DraftFile = "draft.onnx";

    /// <summary>Draft output: log-probabilities of the codes at every draft position.</summary>
    public const string DraftLogProbs = "draft_log_probs";
}
