"""Kinect-style depth: synthetic bodies, depth comparison features, joint proposals. numpy only."""
