/** placeholder */ package io.featurefuse.nn;
