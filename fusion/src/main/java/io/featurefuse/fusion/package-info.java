/** placeholder */ package io.featurefuse.fusion;
