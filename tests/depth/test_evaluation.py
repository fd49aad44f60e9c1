"""Scores of Shotton et al. on hand-made cases: mean per-class accuracy, average precision of joint
proposals, visibility, and held-out seeds kept apart from training seeds."""

from __future__ import annotations

import numpy as np
import pytest

from segstudio.depth.evaluation import (
    EVAL_FIRST_SEED,
    JointScores,
    average_precision,
    class_accuracies,
    evaluate_model,
    evaluation_seeds,
    mean_class_accuracy,
    part_confusion,
    visible_joints,
)
from segstudio.depth.joints import JOINTS, JointProposals
from segstudio.depth.model import BodyPartModel, bundled_model_path
from segstudio.depth.parts import BACKGROUND, N_PARTS, Part
from segstudio.depth.training import TrainingParams, train_body_parts

B = BACKGROUND


def test_mean_class_accuracy_by_hand() -> None:
    truth = np.array([[0, 0, 1, B], [2, 2, 2, 2]], np.uint8)
    predicted = np.array([[0, 1, 1, 5], [2, 2, 2, B]], np.uint8)
    confusion = part_confusion(truth, predicted)
    assert confusion.shape == (N_PARTS, N_PARTS + 1) and confusion.sum() == 7  # true body pixels only
    assert confusion[2, N_PARTS] == 1  # a body pixel predicted as background is a miss
    accuracies = class_accuracies(confusion)
    np.testing.assert_allclose(accuracies[:3], [0.5, 1.0, 0.75])
    assert np.isnan(accuracies[3:]).all()  # absent parts are not scored
    assert mean_class_accuracy(confusion) == pytest.approx((0.5 + 1.0 + 0.75) / 3)


def test_mean_class_accuracy_weighs_parts_not_pixels() -> None:
    truth = np.array([0] * 99 + [1], np.uint8)[None]
    predicted = np.zeros_like(truth)  # every pixel says part 0
    assert mean_class_accuracy(part_confusion(truth, predicted)) == pytest.approx(0.5)


def test_average_precision_by_hand() -> None:
    # Ranked: hit (P=1/1), miss, hit (P=2/3); three positives, one never found.
    ap = average_precision(np.array([0.9, 0.8, 0.7]), np.array([True, False, True]), 3)
    assert ap == pytest.approx((1.0 + 2.0 / 3.0) / 3.0)
    ranked = average_precision(np.array([0.7, 0.8, 0.9]), np.array([True, False, True]), 2)
    assert ranked == pytest.approx((1.0 + 2.0 / 3.0) / 2.0)  # the order comes from confidence
    assert average_precision(np.zeros(0), np.zeros(0, bool), 4) == 0.0
    assert np.isnan(average_precision(np.zeros(0), np.zeros(0, bool), 0))


def proposals_for(head: list[tuple[tuple[float, float, float], float]]) -> JointProposals:
    """Proposals with only the head joint filled, as ((x, y, z), confidence) best first."""
    k = max(1, len(head))
    world = np.full((len(JOINTS), k, 3), np.nan)
    confidence = np.zeros((len(JOINTS), k))
    for i, (point, c) in enumerate(head):
        world[0, i], confidence[0, i] = point, c
    return JointProposals(world, np.zeros((len(JOINTS), k, 2)), confidence)


def test_joint_scores_count_one_hit_per_frame_and_skip_invisible_joints() -> None:
    truth = np.zeros((len(JOINTS), 3))
    truth[:, 2] = 2.0
    visible = np.zeros(len(JOINTS), bool)
    visible[0] = True
    scores = JointScores()
    # Frame 1: two proposals within 0.1 m: the first is a hit, the duplicate a false positive.
    scores.add(proposals_for([((0.0, 0.0, 2.05), 3.0), ((0.0, 0.03, 2.0), 2.0)]), truth, visible)
    # Frame 2: the best proposal is 0.2 m off, the second one is right.
    scores.add(proposals_for([((0.2, 0.0, 2.0), 1.5), ((0.0, 0.0, 2.0), 0.5)]), truth, visible)
    # Frame 3: the head is invisible: its proposals neither help nor hurt.
    scores.add(proposals_for([((5.0, 5.0, 5.0), 9.0)]), truth, np.zeros(len(JOINTS), bool))
    aps, tops = scores.average_precisions(), scores.top_precisions()
    # Ranked: 3.0 hit (1/1), 2.0 dup (1/2), 1.5 miss (1/3), 0.5 hit (2/4); two positives.
    assert aps[0] == pytest.approx((1.0 + 0.5) / 2.0)
    assert tops[0] == pytest.approx(0.5)
    assert np.isnan(aps[1:]).all() and np.isnan(tops[1:]).all()
    assert scores.positives[0] == 2


def test_visible_joints_need_enough_part_pixels() -> None:
    parts = np.full((10, 10), BACKGROUND, np.uint8)
    parts[:2, :] = Part.LU_HEAD  # 20 pixels of one head part: the head joint is visible
    parts[5, :5] = Part.L_KNEE  # 5 knee pixels: too few
    visible = visible_joints(parts)
    names = [spec.name for spec in JOINTS]
    assert visible[names.index("head")] and not visible[names.index("l_knee")]
    assert visible.sum() == 1


def test_evaluation_seeds_stay_clear_of_training_seeds() -> None:
    assert evaluation_seeds(5) == range(EVAL_FIRST_SEED, EVAL_FIRST_SEED + 5)
    assert evaluation_seeds(3, first=10, training=range(0, 10)) == range(10, 13)
    with pytest.raises(ValueError, match="overlap"):
        evaluation_seeds(5, first=8, training=range(0, 10))
    with pytest.raises(ValueError, match="overlap"):
        evaluation_seeds(5, first=EVAL_FIRST_SEED, training=range(EVAL_FIRST_SEED + 4, EVAL_FIRST_SEED + 9))
    with pytest.raises(ValueError):
        evaluation_seeds(0)


def test_evaluate_model_reports_parts_and_joints() -> None:
    model = train_body_parts(
        TrainingParams(
            frames=3,
            pixels_per_frame=150,
            features=50,
            candidate_features=None,
            min_samples_leaf=2,
            trees=2,
            depth=6,
        )
    )
    result = evaluate_model(model, images=2)
    assert result["images"] == 2 and result["seeds"] == [EVAL_FIRST_SEED, EVAL_FIRST_SEED + 1]
    for key in ("mean_class_accuracy", "raw_mean_class_accuracy", "joint_map"):
        assert 0.0 <= result[key] <= 1.0
    assert len(result["per_part_accuracy"]) == N_PARTS
    assert set(result["per_joint"]) == {spec.name for spec in JOINTS}
    with pytest.raises(ValueError, match="overlap"):
        evaluate_model(model, images=2, first_seed=1)


GUARD_SEEDS = 6
"""Held-out frames of the regression guard: a few seconds, enough to catch a broken forest."""
RAW_FLOOR, SMOOTHED_FLOOR, JOINT_MAP_FLOOR = 0.60, 0.69, 0.83
"""The bundled forest (32,000 windowed frames and their mirrors x 500 pixels, depth 28) scores
0.649, 0.743 and 0.883 on these six frames with the depth-gated smoothing; the 250-pixel forest
before it 0.625, 0.721 and 0.867 (over 100-frame ranges the new one is better on every measure of
all five ranges, resources/models/README.md); the floors rose with it, ~0.05 under its scores."""

def test_the_bundled_forest_stays_above_its_floor() -> None:
    """A regression guard, not the goal (resources/models/README.md has the 100-frame numbers):
    floors about 0.05 below what the bundled forest scores on these frames."""
    result = evaluate_model(BodyPartModel.load(bundled_model_path()), images=GUARD_SEEDS)
    assert result["raw_mean_class_accuracy"] >= RAW_FLOOR
    assert result["mean_class_accuracy"] >= SMOOTHED_FLOOR
    assert result["joint_map"] >= JOINT_MAP_FLOOR
