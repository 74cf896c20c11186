// The Kotlin shell as an Android library, for apps built with Gradle.
// Not built on our CI machines (no Android SDK or Gradle there): pom.xml
// compiles the same sources and runs the tests on the JVM instead.
pluginManagement {
    repositories {
        google()
        mavenCentral()
        gradlePluginPortal()
    }
}
dependencyResolutionManagement {
    repositories {
        google()
        mavenCentral()
    }
}
rootProject.name = "altyn-consent-android"
include(":consent")
